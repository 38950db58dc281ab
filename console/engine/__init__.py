"""The engine: the loops that probe, query and listen (core.py, for now with the one
evaluation beside them), the read of every probe gate in one round trip
(gate_reads.py) and the probe schedule (probe_schedule.py)."""
from .core import (
    PROBE_BUFFER_MAX,
    PROBE_FLUSH_BATCH,
    RECORD_EVERY,
    Engine,
    utcnow,
)

__all__ = ["Engine", "PROBE_BUFFER_MAX", "PROBE_FLUSH_BATCH", "RECORD_EVERY", "utcnow"]
