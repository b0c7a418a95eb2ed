"""Progress events: each stage's start and end with its counts, link steps, and where the
events go (plain lines, a rich bar on a terminal, a throttled Prefect log)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from pii import found_in, pii_values
from rich.console import Console

from pipeline import progress as P


def _run_stages(extracts: Path, out: Path, shown: P.Progress) -> dict:
    """A small night through ingest, encode, link and publish as the flow runs them: a
    StageClock around each stage, the stage functions told of ``shown``."""
    from data_contracts import AGENCIES, find_extracts
    from linkage.link import STEPS
    from pipeline import nightly
    from pipeline.config import load_settings
    from pipeline.run_folder import RunFolder

    settings = load_settings(None)
    night, paths = find_extracts(extracts, None)
    clock = nightly.StageClock(shown)
    with RunFolder(out, night) as run:
        with clock("ingest", len(AGENCIES)) as done:
            summaries = [nightly.ingest_agency(paths[a], a, night, settings, run.staging,
                                               shown) for a in AGENCIES]
            done.update(nightly.stage_counts("ingest", summaries))
        with clock("encode", len(AGENCIES)) as done:
            encoded = [nightly.encode_agency(nightly.persons_path(run.staging, a, night), a,
                                             night, settings, run.exchange, shown)
                       for a in AGENCIES]
            done.update(nightly.stage_counts("encode", encoded))
        with clock("link", len(STEPS)) as done:
            linkage = nightly.link_night({e["agency"]: run.exchange / e["file"]
                                          for e in encoded}, settings, run.partial, shown)
            done.update(nightly.stage_counts("link", linkage))
        with clock("publish") as done:
            published = nightly.publish_night(run.partial, out, night, settings)
            done.update(nightly.stage_counts("publish", published))
    return {"summaries": summaries, "encoded": encoded, "linkage": linkage,
            "published": published, "seconds": clock.seconds}


def test_a_nights_stages_report_each_start_and_end_with_their_counts(
        small_night: Path, tmp_path: Path) -> None:
    from data_contracts import AGENCIES
    from linkage.link import STEPS

    rec = P.Recorder()
    got = _run_stages(small_night, tmp_path / "runs", rec)
    events = rec.events
    stages = [(e.kind, e.stage) for e in events if not e.item]
    assert stages == [(k, s) for s in ("ingest", "encode", "link", "publish")
                      for k in ("start", "end")]
    end = {e.stage: e for e in events if e.kind == "end" and not e.item}
    s = got["summaries"]
    assert dict(end["ingest"].counts) == {
        "rows": sum(x["rows_read"] for x in s),
        "quarantined": sum(x["rows_quarantined"] for x in s),
        "records": sum(x["records_out"] for x in s)}
    assert dict(end["encode"].counts) == {"records": sum(e["records"] for e in got["encoded"])}
    c = got["linkage"]["counts"]
    assert dict(end["link"].counts) == {
        "records": c["records"], "persons": c["persons"], "families": c["families"],
        "multi-system families": c["multi_system_families"]}
    p = got["published"]
    assert dict(end["publish"].counts) == {
        "roster rows": p["rows"], "multi-system families": p["families"],
        "community cells": p["community_cells"], "withheld": p["community_cells_withheld"]}
    assert {st: e.seconds for st, e in end.items()} == got["seconds"]
    assert end["ingest"].total == end["encode"].total == 3 and end["link"].total == len(STEPS)

    # each agency starts and ends inside its stage, with its own counts
    for stage in ("ingest", "encode"):
        inside = [(e.kind, e.item) for e in events if e.stage == stage and e.item]
        assert inside == [(k, a) for a in AGENCIES for k in ("start", "end")]
    for summary in s:
        e = next(e for e in events if e.stage == "ingest" and e.item == summary["agency"]
                 and e.kind == "end")
        assert dict(e.counts) == {"rows": summary["rows_read"],
                                  "quarantined": summary["rows_quarantined"],
                                  "records": summary["records_out"]}
    for enc in got["encoded"]:
        e = next(e for e in events if e.stage == "encode" and e.item == enc["agency"]
                 and e.kind == "end")
        assert dict(e.counts) == {"records": enc["records"]}

    # the link steps, once each, in order, between the link stage's start and end
    steps = [e for e in events if e.kind == "step"]
    assert [(e.stage, e.item, e.done, e.total) for e in steps] == [
        ("link", step, i + 1, len(STEPS)) for i, step in enumerate(STEPS)]
    assert steps[0].counts["candidate pairs"] == got["linkage"]["pairs"]["candidates"]
    assert steps[-1].counts["records"] == c["records"]
    first, last = events.index(steps[0]), events.index(steps[-1])
    assert events[first - 1] == next(e for e in events if e.stage == "link")
    assert events[last + 1] is end["link"]

    # counts and names only: no input value in any line
    text = "\n".join(e.text() for e in events).upper().encode()
    assert not found_in(pii_values(small_night), text)
    assert all(re.fullmatch(r"[a-z -]+( (DHS|DJS|DPSCS))?( started|:.*| done.*)", e.text())
               for e in events), [e.text() for e in events]


def test_link_records_calls_on_step_between_its_steps_only() -> None:
    """The linkage library's own hook: one call per step, none per pair."""
    import inspect

    from linkage import link

    source = inspect.getsource(link.link_records)
    assert source.count("on_step(") == 1           # inside lap(), which runs once per step
    assert [s for s in link.STEPS if f'lap("{s}"' not in source] == []
    assert "import pipeline" not in inspect.getsource(link) and \
        "prefect" not in inspect.getsource(link)


def test_plain_lines_say_the_time_the_stage_agency_and_counts() -> None:
    buf = io.StringIO()
    shown = P.PlainLines(Console(file=buf, width=60))
    shown.emit(P.Event("start", "ingest", total=3))
    shown.emit(P.Event("end", "ingest", "DHS", counts={"rows": 1203, "quarantined": 12},
                       seconds=0.43))
    shown.emit(P.Event("step", "link", "within_families", done=6, total=7,
                       counts={"pairs": 1131}, seconds=0.1))
    shown.emit(P.Event("end", "link", counts={"records": 20690, "persons": 20347},
                       seconds=61.25))
    shown.close()
    shown.emit(P.Event("start", "publish"))                 # closed: nothing more
    lines = buf.getvalue().splitlines()
    assert [re.sub(r"^\[\d\d:\d\d:\d\d\] ", "", line) for line in lines] == [
        "ingest started",
        "ingest DHS: 1,203 rows, 12 quarantined (0.4 s)",
        "link within families: step 6 of 7, 1,131 pairs (0.1 s)",
        "link done: 20,690 records, 20,347 persons (61.2 s)"]    # one line each, unwrapped
    assert all(re.match(r"\[\d\d:\d\d:\d\d\] ", line) for line in lines)


class _Logger:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict]] = []

    def info(self, fmt: str, *args: object, extra: dict | None = None) -> None:
        self.lines.append((fmt % args, extra or {}))


def test_prefect_log_has_every_stage_and_a_long_stages_steps_now_and_then(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(P.time, "monotonic", lambda: clock[0])
    logger = _Logger()
    log = P.PrefectLog(logger, every=5.0)
    log.emit(P.Event("start", "link", total=7))
    for i, step in enumerate(("blocking", "comparison", "model", "scoring"), 1):
        clock[0] += 2.0                                 # a step every 2 s
        log.emit(P.Event("step", "link", step, done=i, total=7, seconds=2.0))
    log.emit(P.Event("start", "ingest", "DHS"))         # an agency's start: never
    clock[0] += 1.0
    log.emit(P.Event("end", "link", counts={"records": 5}, seconds=9.0))
    assert [m for m, _ in logger.lines] == [
        "link started", "link model: step 3 of 7 (2.0 s)",      # 6 s after the start
        "link done: 5 records (9.0 s)"]
    assert all(extra == {P.PROGRESS_RECORD: True} for _, extra in logger.lines)


def test_the_terminal_gets_a_bar_and_the_lines_and_nothing_after_an_error() -> None:
    term, plain = io.StringIO(), io.StringIO()
    err = Console(file=term, force_terminal=True, width=100)
    out = Console(file=plain, width=100)
    with pytest.raises(RuntimeError):
        with P.console_display(out, err) as shown:
            assert isinstance(shown, P.RichDisplay) and P.current() is shown
            shown.emit(P.Event("start", "link", total=7))
            shown.emit(P.Event("step", "link", "blocking", done=1, total=7, seconds=0.2))
            raise RuntimeError("the run failed")
    assert P.current() is P.NO_PROGRESS and shown.closed
    shown.emit(P.Event("end", "link", seconds=1.0))        # a straggler: not shown
    text = term.getvalue()
    assert "link started" in text and "link blocking: step 1 of 7 (0.2 s)" in text
    assert "link done" not in text and plain.getvalue() == ""
    assert "\x1b[?25h" in text[-20:] and text.endswith("\x1b[2K")   # cursor back, bar gone

    with P.console_display(out, Console(file=io.StringIO(), width=100)) as shown:
        assert type(shown) is P.PlainLines                   # no terminal: plain lines
        shown.emit(P.Event("start", "ingest", "DJS"))
    assert re.fullmatch(r"\[\d\d:\d\d:\d\d\] ingest DJS started\n", plain.getvalue())
