"""A screen that an App worker answers: the answer may come before the screen is
composed, so it waits for the mount. The detail screens read the database in a
worker of the App (a popped screen would cancel its own) and are told the result."""
from __future__ import annotations

from collections.abc import Callable

from textual.screen import Screen


class AnsweredScreen(Screen):
    _pending: tuple[Callable, tuple] | None = None

    def _answer(self, render: Callable, *args) -> None:
        if self.is_mounted:
            render(*args)
        else:
            self._pending = (render, args)

    def on_mount(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending[0](*pending[1])

    def failed(self, why: str) -> None:
        self._answer(self._failed, why)

    def _failed(self, why: str) -> None:
        raise NotImplementedError
