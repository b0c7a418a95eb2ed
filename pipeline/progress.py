"""Progress of a run: each stage's start and end with counts, and the steps of long ones.

The stages (:mod:`pipeline.nightly`) take a :class:`Progress` (default :data:`NO_PROGRESS`)
and emit :class:`Event` objects to it; they never print. Where the events go is up to the
caller:

* :class:`PlainLines`: one line per event, ``[14:06:10] ingest DHS: 14,905 rows, 253
  quarantined, 14,652 records (0.9 s)``: what ``sst-link`` prints when not on a terminal
  (cron, a log file, tests);
* :class:`RichDisplay`: on a terminal, the same lines above a rich progress bar of the
  stage going on (agencies done, link steps done, time elapsed);
* :class:`PrefectLog`: into a Prefect run logger (the UI): every stage's start and end, and
  an agency's end or a link step at most once every few seconds.

:func:`console_display` is the CLI's: it picks one of the first two and makes it
:func:`current` for the flow's tasks (which run in the same process) to add to their
:class:`PrefectLog`. Events carry stage, agency or step names and counts only, never a
value of a record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

PROGRESS_RECORD = "sst_progress"
"""Attribute marking a log record made from an :class:`Event` (kept off Prefect's console
while ``sst-link`` prints the events itself)."""


@dataclass(frozen=True)
class Event:
    """One thing a run did.

    Attributes:
        kind: ``start`` or ``end`` (of a stage, or of one agency in it: ``item``), or
            ``step`` (a link step finished: ``done`` of ``total``).
        stage: ``ingest``, ``encode``, ``link``, ``publish``, ``handoff`` or ``report``.
        item: the agency (``DHS``) or link step (``blocking``); empty for the whole stage.
        done: steps finished (``step`` events).
        total: steps or agencies the stage has, when known.
        counts: what the stage, agency or step produced (``{"rows": 1203, ...}``).
        seconds: how long it took (``end`` and ``step`` events).
    """

    kind: Literal["start", "end", "step"]
    stage: str
    item: str = ""
    done: int | None = None
    total: int | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    seconds: float | None = None

    def text(self) -> str:
        """The event as a line without its time: ``ingest DHS: 1,203 rows, 12
        quarantined (0.4 s)``."""
        name = f"{self.stage} {self.item.replace('_', ' ')}" if self.item else self.stage
        counts = ", ".join(f"{n:,} {what}" for what, n in self.counts.items())
        took = f" ({self.seconds:.1f} s)" if self.seconds is not None else ""
        if self.kind == "start":
            return f"{name} started" + (f": {counts}" if counts else "")
        if self.kind == "step":
            return (f"{name}: step {self.done} of {self.total}"
                    + (f", {counts}" if counts else "") + took)
        if self.item:
            return f"{name}: {counts or 'done'}{took}"
        return f"{name} done" + (f": {counts}" if counts else "") + took


class Progress(Protocol):
    """Where a run's events go."""

    def emit(self, event: Event) -> None:
        """Take one event (quickly: the run waits)."""


class _NoProgress:
    def emit(self, event: Event) -> None:
        pass


NO_PROGRESS: Progress = _NoProgress()
"""The default: events go nowhere."""


class Recorder:
    """Keeps the events (tests)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)


class Fanout:
    """The same events to several places."""

    def __init__(self, *targets: Progress) -> None:
        self.targets = [t for t in targets if t is not NO_PROGRESS]

    def emit(self, event: Event) -> None:
        for target in self.targets:
            target.emit(event)


@contextmanager
def timed(progress: Progress, stage: str, item: str = "", total: int | None = None
          ) -> Iterator[dict[str, int]]:
    """``start``, then ``end`` with the counts the body puts in the dict it is given and
    the seconds it took. A body that raises ends with no ``end`` event: the error is the
    last word."""
    progress.emit(Event("start", stage, item, total=total))
    start = time.perf_counter()
    counts: dict[str, int] = {}
    yield counts
    progress.emit(Event("end", stage, item, total=total, counts=counts,
                        seconds=round(time.perf_counter() - start, 3)))


class PlainLines:
    """One line per event, with the time of day, on a rich console (no terminal)."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.closed = False
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            if not self.closed:         # nothing after the run's last word
                self.console.print(f"[{time.strftime('%H:%M:%S')}] {event.text()}",
                                   markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        with self._lock:
            self.closed = True


class RichDisplay(PlainLines):
    """On a terminal: the lines (an agency's start only moves the bar) above a progress bar
    of the stage going on. Ends the bar, which leaves no trace, when closed."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as Bar

        super().__init__(console)
        self.bar = Bar(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                       MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                       transient=True)
        self._tasks: dict[str, Any] = {}
        self.bar.start()

    def emit(self, event: Event) -> None:
        with self._lock:
            if self.closed:
                return
            task = self._tasks.get(event.stage)
            if event.kind == "start" and not event.item:
                self._tasks[event.stage] = self.bar.add_task(event.stage, total=event.total)
            elif task is not None and event.kind == "start":
                self.bar.update(task, description=f"{event.stage} {event.item}")
            elif task is not None and event.kind == "step":
                self.bar.update(task, completed=event.done, total=event.total,
                                description=f"{event.stage} (after {event.item})")
            elif task is not None and event.kind == "end" and event.item:
                self.bar.update(task, advance=1, description=event.stage)
            elif task is not None and event.kind == "end":
                self.bar.remove_task(self._tasks.pop(event.stage))
            if not (event.kind == "start" and event.item):
                self.bar.console.print(f"[{time.strftime('%H:%M:%S')}] {event.text()}",
                                       markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                self.bar.stop()


class PrefectLog:
    """Events into a Prefect run logger (``get_run_logger()``): a stage's start and end
    always; an agency's end or a link step only when ``every`` seconds have passed since
    this logger's last line, so a long stage logs now and then, not on every step."""

    def __init__(self, logger: Any, every: float = 5.0) -> None:
        self.logger = logger
        self.every = every
        self._last = time.monotonic()

    def emit(self, event: Event) -> None:
        now = time.monotonic()
        if event.item:
            if event.kind == "start" or now - self._last < self.every:
                return
        self._last = now
        self.logger.info("%s", event.text(), extra={PROGRESS_RECORD: True})


_current: dict[str, Progress] = {"display": NO_PROGRESS}


def current() -> Progress:
    """The display the command line attached (:func:`console_display`), or
    :data:`NO_PROGRESS` (a scheduled run: its events go to the Prefect log only)."""
    return _current["display"]


class _NotProgress(logging.Filter):
    """Keeps the events' log records off Prefect's console (the display prints them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, PROGRESS_RECORD, False)


def _prefect_consoles() -> list[Any]:
    import sys

    if "prefect" not in sys.modules:
        return []
    from prefect.logging.handlers import PrefectConsoleHandler

    return [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]


@contextmanager
def console_display(out: Any, err: Any) -> Iterator[PlainLines]:
    """The command line's display for the length of a run: on a terminal (``err`` is
    one) a :class:`RichDisplay` on ``err``, Prefect's console lines going above its bar;
    else :class:`PlainLines` on ``out``. Made :func:`current` meanwhile; closed on the way
    out, also on an error, so that nothing follows the error's one line."""
    display = RichDisplay(err) if err.is_terminal else PlainLines(out)
    consoles = _prefect_consoles()
    swapped = [(h, h.console) for h in consoles] if isinstance(display, RichDisplay) else []
    for handler in consoles:
        if not any(isinstance(f, _NotProgress) for f in handler.filters):
            handler.addFilter(_NotProgress())
    for handler, _ in swapped:
        handler.console = err           # printed above the bar, not through it
    _current["display"] = display
    try:
        yield display
    finally:
        _current["display"] = NO_PROGRESS
        display.close()
        for handler, console in swapped:
            handler.console = console
