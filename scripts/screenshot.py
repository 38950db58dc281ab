"""Regenerate docs/screenshot.svg from the real demo (embedded PostgreSQL, simulated
service, seeded week), headless at 160x48: python scripts/screenshot.py"""
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.app import make_app  # noqa: E402
from console.config import load_config  # noqa: E402
from console.demo.run import DEMO_DB, prepare_demo  # noqa: E402


async def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="gonogo-shot-"))
    data.chmod(0o755)
    config = load_config(ROOT / "config.toml")
    config = config.model_copy(update={"database": config.database.model_copy(update={"data_dir": str(data)})})
    demo_config, service = await asyncio.to_thread(prepare_demo, config, port=0)
    app = make_app(demo_config, demo=service, embedded_name=DEMO_DB)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            while app.snapshot is None or app.snapshot.verdict.value != "GO":
                await pilot.pause(0.2)
            await pilot.press("down")  # chart p95_latency
            await pilot.pause(1.0)
            path = app.save_screenshot(filename="screenshot.svg", path=str(ROOT / "docs"))
            print(path)
    finally:
        service.stop()


asyncio.run(main())
