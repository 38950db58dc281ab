"""The engine: the loops that probe and lead (core.py) and those that ask the other
sources and listen (source_loops.py, mixed into the Engine), one evaluation
from the store's reads to a Snapshot (evaluation.py, an object the engine holds and
calls), the read of every probe gate in one round trip (gate_reads.py), the probe
schedule (probe_schedule.py), the alert rules' orchestration (alert_rules.py) and
auto-rollback's (auto_rollback.py)."""
from .core import (
    PROBE_BUFFER_MAX,
    PROBE_FLUSH_BATCH,
    RECORD_EVERY,
    Engine,
    utcnow,
)

__all__ = ["Engine", "PROBE_BUFFER_MAX", "PROBE_FLUSH_BATCH", "RECORD_EVERY", "utcnow"]
