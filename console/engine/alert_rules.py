"""The console's own alert rules, as the leader applies them: read what they judge
(the last snapshot's gates, the last hour's error rate, the 5xx of the last minute,
the configured cost and events queries), let checks.alert_rules decide, and write
the alerts that fire and resolve the ones that stopped. The engine's alert-rules
loop calls `apply`; the alerts reach the screen through the next evaluation's read."""
from __future__ import annotations

from datetime import timedelta

from checks.alert_rules import burst_alert, cost_alert, error_rate_alert, event_alert, gate_alerts
from checks.models import Snapshot
from checks.sql_result import event_rows

from ..config import Config
from ..store.db import Store
from ..store.sandbox import QueryRefused
from .gate_reads import ProbeGateReader, ProbeGateSpec


class AlertRules:
    def __init__(self, config: Config, store: Store):
        self.config = config
        self.store = store
        # The rules read other windows than the gates, at their own pace: a reader of
        # their own, so neither evicts what the evaluation's reader keeps.
        self.reader = ProbeGateReader()

    async def apply(self, snapshot: Snapshot | None) -> None:
        """Read what the rules judge, let checks.alert_rules decide, write the alerts."""
        cfg = self.config.alerts
        firing = gate_alerts(snapshot.gates) if snapshot is not None else []
        targets = [t.name for t in self.config.targets]
        if targets:
            hour = ProbeGateSpec("error_rate", timedelta(hours=1), tuple(targets))
            agg = (await self.reader.read(self.store, [hour]))[0]
            firing.append(error_rate_alert(agg.value, agg.detail, cfg.error_rate_1h))
            firing.append(burst_alert(await self.store.count_5xx(timedelta(minutes=1)), cfg.max_5xx_per_minute))
        # A refused configured query (cost_query, events_query) is reported, and must
        # not stop the other rules: it is collected and raised at the end.
        refused: list[str] = []
        timeout = self.config.database.statement_timeout
        if cfg.cost_query:
            try:
                firing.append(cost_alert(await self.store.sandbox.value(cfg.cost_query, timeout), cfg.cost_budget))
            except QueryRefused as e:
                refused.append(f"cost_query: {e}")
        firing = [f for f in firing if f is not None]
        for f in firing:
            await self.store.raise_alert(f.fingerprint, "rule", f.severity, f.name, f.summary)
        await self.store.resolve_missing("rule", [f.fingerprint for f in firing])
        if cfg.events_query:
            try:
                events = event_rows(await self.store.sandbox.rows(cfg.events_query, timeout))
            except ValueError as e:  # QueryRefused, or a row of the wrong shape
                refused.append(f"events_query: {e}")
            else:
                keep = []
                for ev in events:
                    f = event_alert(ev)
                    keep.append(f.fingerprint)
                    await self.store.raise_alert(f.fingerprint, "events", f.severity, f.name, f.summary, ev.at)
                await self.store.resolve_missing("events", keep)
        if refused:
            raise ValueError("; ".join(refused))
