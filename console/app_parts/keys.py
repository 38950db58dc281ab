"""The App's keys as data: whether each is available now and why not (greyed out in
the footer, said in the help and the palette), the help's list and the palette's
commands, all read from the one list of Bindings on the App."""
from __future__ import annotations

import functools

from textual.app import SystemCommand
from textual.binding import Binding

from checks.rollout import Refusal

from ..rollout import preview
from ..screens.help import HelpScreen

ROLLOUT_BINDINGS = {"advance", "advance_override", "hold_resume", "rollback", "retry"}  # they act on the rollout
DEMO_KEYS = {"demo_errors": "errors", "demo_latency": "latency", "demo_outage": "outage", "demo_down": "down",
             "demo_normal": None}


class KeysMixin:
    def check_action(self, action: str, parameters) -> bool | None:
        if action in DEMO_KEYS:
            return self.demo is not None
        if action in ROLLOUT_BINDINGS:
            if self.config.console.read_only:
                return None  # shown, greyed out: this console may not act
            if self.engine is None or self.snapshot is None or self.snapshot.rollout is None:
                return None
            if action == "advance":
                return True if self.advance_state() == ("ok",) else None  # greyed out: it would be refused
            if action == "advance_override":
                return self.advance_state() == ("refused", True)  # shown only when an override is what is left
        return True

    def advance_state(self) -> tuple:
        """What Advance would do now, as the bindings need it: ("ok",), ("refused",
        overridable) or ("off",) (nothing loaded, or a read-only console)."""
        snap = self.snapshot
        if self.config.console.read_only or snap is None or snap.rollout is None or self.engine is None:
            return ("off",)
        plan = preview("advance", snap, self.config, self.clock())
        return ("refused", plan.overridable) if isinstance(plan, Refusal) else ("ok",)

    def why_not(self, action: str) -> str:
        """Why a greyed-out key does nothing now ("" when it is available), for the
        help and the palette."""
        if self.check_action(action, ()):
            return ""
        if action in ROLLOUT_BINDINGS:
            snap = self.snapshot
            if self.config.console.read_only:
                return "this console is read-only"
            if snap is None or snap.rollout is None or self.engine is None:
                return "the rollout state is not loaded yet"
            if action in ("advance", "advance_override"):
                plan = preview("advance", snap, self.config, self.clock())
                if isinstance(plan, Refusal):
                    return f"refused now: {plan.reason}" + (" (A overrides)" if plan.overridable else "")
                return "advance is allowed: a advances"
        if action in DEMO_KEYS:
            return "only in the demo"
        return "not available now"

    def key_list(self) -> list[tuple[str, str, str]]:
        """(key, what it does, why it does nothing now or "") for every key of the
        screen and the App, each key once: the screen's binding of a key wins, as it
        does when the key is pressed. The help shows this list."""
        rows: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        screen = self.screen if not isinstance(self.screen, HelpScreen) else self.screen_stack[-2]
        for namespace, b in [*((screen, b) for b in screen.BINDINGS), *((self, b) for b in self.BINDINGS)]:
            if not isinstance(b, Binding) or not b.description or b.key in seen:
                continue
            if b.action in DEMO_KEYS and self.demo is None:
                continue
            seen.add(b.key)
            why = self.why_not(b.action) if namespace is self else ""
            # The footer's word first, so what the footer shows is found here.
            what = f"{b.description}: {b.tooltip}" if b.tooltip else b.description
            rows.append((b.key_display or b.key, what, why))
        rows += [(key, what, "") for key, what in self.OTHER_KEYS]
        return rows

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_list()))

    def get_system_commands(self, screen):
        """The palette lists the same keys as the footer and the help, by the same words."""
        yield from super().get_system_commands(screen)
        for b in self.BINDINGS:
            if b.action == "quit" or (b.action in DEMO_KEYS and self.demo is None):
                continue  # Textual's palette has its own Quit
            why = self.why_not(b.action)
            help_text = f"{b.tooltip} — {why}" if why else b.tooltip
            yield SystemCommand(b.description if b.action not in DEMO_KEYS else f"Demo: {b.description}",
                                f"{help_text} (key: {b.key_display or b.key})", functools.partial(self._palette_run, b.action))
        for b in getattr(screen, "BINDINGS", ()):
            if isinstance(b, Binding) and b.show and b.tooltip:  # the screen's own keys, such as / on the dashboard
                yield SystemCommand(b.description, f"{b.tooltip} (key: {b.key_display or b.key})",
                                    functools.partial(screen.run_action, b.action))

    def _palette_run(self, action: str) -> None:
        """A command chosen in the palette runs only if its key would."""
        why = self.why_not(action)
        if why:
            self.notify(why, title="not now", severity="warning")
            return
        getattr(self, f"action_{action}")()
