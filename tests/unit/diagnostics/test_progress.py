"""The progress reporter: few lines however many events, the totals at the end, worker threads
counted for the one build running and for none when several run."""

from __future__ import annotations

import io
import threading

from mlenv.diagnostics import progress
from mlenv.diagnostics.progress import DOWNLOADED, PACKED, PUSHED, Progress, StatusLine, reporting


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_thousand_events_over_a_minute_give_a_line_per_stage_and_per_five_seconds():
    clock, lines = Clock(), []
    reporter = Progress(lines.append, clock=clock)
    for stage, count in ((DOWNLOADED, 400), (PACKED, 400), (PUSHED, 200)):
        for _ in range(count):
            clock.now += 0.06
            reporter.add(stage, 1000)
    reporter.finish()
    assert len(lines) <= 3 + 60 / 5 + 1 + 1, lines  # stage starts, one per 5 s, the summary
    assert lines[-1].startswith("done in 60.0s: downloaded 400 packages (400.0 kB, 16.7 kB/s); packed 400 layers (400.0 kB")
    assert "pushed 200 blobs (200.0 kB" in lines[-1]


def test_nothing_reported_says_nothing():
    lines = []
    Progress(lines.append).finish()
    assert lines == []


def test_a_worker_thread_reports_to_the_one_build_running_and_to_none_of_two():
    one, two = Progress(lambda line: None), Progress(lambda line: None)

    def in_a_worker():
        thread = threading.Thread(target=progress.add, args=(DOWNLOADED, 5))
        thread.start()
        thread.join()

    with reporting(one):
        in_a_worker()
        progress.add(PACKED, 7)  # this thread's own context
    assert (one.tallies[DOWNLOADED].nbytes, one.tallies[PACKED].nbytes) == (5, 7)
    with reporting(one), reporting(two):
        in_a_worker()
    assert one.tallies[DOWNLOADED].items == 1 and DOWNLOADED not in two.tallies
    progress.add(PUSHED, 1)  # no build: nothing to count, no error
    assert PUSHED not in one.tallies


def test_the_status_line_is_redrawn_in_place_and_kept_below_other_output():
    stream = io.StringIO()
    status = StatusLine(stream)
    status.show("progress: downloaded 1 packages (1 B)")
    status.above(lambda line: stream.write(line + "\n"))("locked 3 packages")
    status.done("done in 1.0s: downloaded 1 packages (1 B)")
    assert stream.getvalue() == ("\r\x1b[Kprogress: downloaded 1 packages (1 B)" "\r\x1b[Klocked 3 packages\nprogress: downloaded 1 packages (1 B)"
                                 "\r\x1b[Kdone in 1.0s: downloaded 1 packages (1 B)\n")


def test_progress_lines_are_never_a_failure_s_evidence(tmp_path, monkeypatch):
    from mlenv.diagnostics.buildlog import BuildLog
    from mlenv.diagnostics.errors import BuildError
    from mlenv.pipeline import diagnosed

    monkeypatch.setenv("MLENV_CACHE_DIR", str(tmp_path))
    log = BuildLog("progress-test")
    for line in ("base ok", "locked 2 packages", "progress: downloaded 2 packages (2 B)", "progress: pushed 1 blobs (1 B)"):
        log(line)
    explained = diagnosed(BuildError("publish", "the registry failed", "retry", rule="registry.unavailable"), log)  # no line matches: the last lines are the evidence
    assert [text for _, text in explained.evidence] == ["base ok", "locked 2 packages"]
