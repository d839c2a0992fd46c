"""SIGINT / SIGTERM ask the loop to stop after the current step, instead of killing it mid-write."""
from __future__ import annotations

import signal
from typing import Optional


class Interrupted(Exception):
    """Raised by the trainer after it has saved a checkpoint in answer to a signal."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


class GracefulStop:
    """Context manager: while active, the first SIGINT / SIGTERM only records `requested`;
    a second SIGINT interrupts at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested: Optional[int] = None
        self._previous = {}

    def _handle(self, signum, frame):
        if self.requested == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signum

    def __enter__(self) -> "GracefulStop":
        for sig in self.SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
