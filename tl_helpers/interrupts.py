"""Ctrl-C for the command line: whenever it comes, the command stops with exit code 130 and one
line, never a traceback, and leaves no half-written file (every file the course writes is moved
into place only once complete: ``tl_helpers.storage``).

Python turns Ctrl-C (SIGINT) into ``KeyboardInterrupt`` wherever the program happens to be, and
while TensorFlow is being imported or called that is sometimes a place that loses it: a weakref
callback in the import system ("Exception ignored"), a compiled extension that reports it as
``ImportError: initialization failed``, or C++ code that swallows it and carries on. So ``CtrlC``
remembers that Ctrl-C was pressed, treats whatever error follows as the interruption, sends the
signal again while no ``KeyboardInterrupt`` has reached the command line, and keeps the
"Exception ignored" reports of the interrupted teardown off the learner's terminal, and the
warnings that follow Ctrl-C too: a library that catches every exception turns the interruption
into a warning of its own (Keras's check of a model's input structure reports "The structure of
`inputs` doesn't match" when the ``KeyboardInterrupt`` lands inside it).
"""

from __future__ import annotations

import signal
import sys
import threading
import warnings
from types import FrameType, TracebackType

__all__ = ["INTERRUPTED", "CtrlC", "say_interrupted"]

INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C (128 + SIGINT)


def say_interrupted(when: str = "") -> None:
    """The command line's one line after Ctrl-C, on standard error. Every file the course writes
    is moved into place only once complete, so whenever it came, nothing half-written was kept."""
    print(
        f"\ninterrupted (Ctrl-C): stopped{when}; nothing half-written was kept, run the command again",
        file=sys.stderr,
    )
    sys.stderr.flush()


class CtrlC:
    """``with CtrlC() as ctrl_c:`` around a command; ``ctrl_c.received`` says whether Ctrl-C was
    pressed, ``ctrl_c.reached()`` is called where the ``KeyboardInterrupt`` is caught. Only the
    main thread can handle signals, and a process started with SIGINT ignored (a background job
    of a script) keeps ignoring it, as Python itself does; otherwise this does nothing."""

    def __init__(self, deliver_again_after: float = 1.0) -> None:
        self.deliver_again_after = deliver_again_after
        self.received = False
        self._reached = False
        self._previous: object = None
        self._unraisable_hook = sys.unraisablehook
        self._warnings: warnings.catch_warnings | None = None

    def __enter__(self) -> CtrlC:
        main_thread = threading.current_thread() is threading.main_thread()
        if main_thread and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            sys.unraisablehook = self._unraisable
            # Filters set inside (after Ctrl-C, all warnings ignored) end with the command.
            self._warnings = warnings.catch_warnings()
            self._warnings.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._reached = True
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]
            sys.unraisablehook = self._unraisable_hook
        if self._warnings is not None:
            self._warnings.__exit__(None, None, None)
            self._warnings = None

    def reached(self) -> None:
        """The interruption reached the command line: no need to send it again."""
        self._reached = True

    def _on_sigint(self, _signum: int, _frame: FrameType | None) -> None:
        self.received = True
        # From here on the command is ending: a warning now is the interruption's echo.
        warnings.simplefilter("ignore")
        timer = threading.Timer(self.deliver_again_after, self._deliver_again)
        timer.daemon = True
        timer.start()
        raise KeyboardInterrupt

    def _unraisable(self, unraisable: sys.UnraisableHookArgs) -> None:
        # After Ctrl-C, errors in callbacks and clean-ups are the interruption's echo: not shown.
        if not self.received:
            self._unraisable_hook(unraisable)

    def _deliver_again(self) -> None:
        if not self._reached:  # the KeyboardInterrupt was lost on its way: raise it once more
            signal.raise_signal(signal.SIGINT)  # in-process on Windows too (os.kill would end it)
