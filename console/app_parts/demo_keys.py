"""The demo's keys: inject a fault into the simulated service, or (`n`) clear it and
seed a clean week again."""
from __future__ import annotations

from ..secrets import mask_text


class DemoKeysMixin:
    def _demo(self, kind: str | None) -> None:
        if self.demo is None:
            return
        self.demo.inject(kind)
        self.notify(self.demo.describe(), title="demo")
        self.action_refresh()

    def action_demo_errors(self) -> None:
        self._demo("errors")

    def action_demo_latency(self) -> None:
        self._demo("latency")

    def action_demo_outage(self) -> None:
        self._demo("outage")

    def action_demo_down(self) -> None:
        self._demo("down")

    def action_demo_normal(self) -> None:
        restore = getattr(self.demo, "restore", None)  # the demo's controls (console/demo/controls.py)
        if restore is None:
            self._demo(None)
            return
        self.notify("fault cleared; seeding a clean week as soon as the probes sent under it are in…", title="demo")
        self.run_worker(self._restore_demo(restore), name="demo reset", group="demo", exit_on_error=False)

    async def _restore_demo(self, restore) -> None:
        try:
            said = await restore()
        except Exception as e:  # the demo's database away: said, never a traceback
            why = (mask_text(str(e)).strip().splitlines() or [type(e).__name__])[0]
            self.notify(f"could not seed a clean week: {why}", title="demo", severity="error")
            return
        self.notify(said, title="demo")
        if self.engine is not None:
            # The query gates' answers were given before the week was seeded again: asked
            # again now, not at their interval (30 s for the demo's critical alerts).
            await self.engine.ask_queries_now()
        self.action_refresh()
