"""SIGINT/SIGTERM during an apply: finish the batch being written, then stop cleanly.

A batch is one atomic script in Redis; killing the client between sending it and
reading its reply leaves nobody able to say whether it landed.  So while batches are
being written the first signal only asks the apply to stop before its next batch (it
then reports what landed and audits it); a second one aborts at once.  Before the
writing starts (parsing, waiting for the lock) any signal aborts at once: nothing is
in flight.  Either way the apply still audits, and releases its lock or says it could
not.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from .errors import UserError

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(UserError):
    """A signal asked the apply to stop; raised before the next batch is sent."""

    def __init__(self, signal_name: str) -> None:
        self.signal_name = signal_name
        super().__init__(f"interrupted by {signal_name} before it was sent")


class StopRequest:
    """What the handlers saw: the first signal's name, and whether cleanup runs."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self.count = 0
        self.deferring = False  # batches are being written: the first signal waits
        # After the apply stopped: signals must not cut its audit record and lock release
        # short (bounded by the Redis timeouts, a few seconds at most).
        self.cleaning_up = False

    def check(self) -> None:
        """Raise ``Interrupted`` if a signal asked to stop (call between batches)."""
        if self.signal_name is not None:
            raise Interrupted(self.signal_name)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.cleaning_up:
            return
        self.count += 1
        if self.count == 1:
            self.signal_name = signal.Signals(signum).name
            if not self.deferring:
                raise KeyboardInterrupt
            # os.write: safe whatever the main thread was printing when the signal came.
            os.write(
                2,
                f"\n{self.signal_name}: stopping after the batch being written "
                "(send it again to abort at once)\n".encode(),
            )
            return
        raise KeyboardInterrupt


@contextmanager
def stop_between_batches() -> Iterator[StopRequest]:
    """Handle SIGINT and SIGTERM as above while the block runs (main thread only)."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request  # signals are delivered to the main thread only
        return
    previous = {sig: signal.getsignal(sig) for sig in HANDLED}
    for sig in HANDLED:
        signal.signal(sig, request._handle)
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
