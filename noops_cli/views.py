"""What ``noops deploy | rollback | control`` shows: a rich live table on a terminal, one line per host change
otherwise, and the summary at the end (with the exit status)."""

from __future__ import annotations

import dataclasses
import sys
import time
import typing as t

from noops_cli.tracker import HOST_STATES, WORKING_STATES, RolloutTracker

STATE_STYLE = {"pending": "dim", "deploying": "cyan", "running": "cyan", "success": "green",
               "would change": "yellow", "failed": "bold red", "skipped": "dim green", "unreachable": "bold red"}
EXIT_OK, EXIT_FAILED, EXIT_REJECTED, EXIT_INTERRUPTED = 0, 1, 2, 130


def _fmt_elapsed(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return "%.0fs" % seconds if seconds >= 10 else "%.1fs" % seconds


def pause_hint(task_id: int | None, keys: bool) -> str:
    where = "run `noops tasks resume %s`" % (task_id if task_id else "ID")
    return "paused: %s%s" % (where, " (or press c + Enter here; a + Enter cancels)" if keys else "")


class PlainView:
    """One line per host state change (stdout is not a terminal: CI logs, pipes)."""

    def __init__(self, tracker: RolloutTracker, title: str, out: t.TextIO | None = None) -> None:
        self.tracker = tracker
        self.title = title
        self.out = out or sys.stdout

    def __enter__(self) -> "PlainView":
        self.say(self.title)
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.refresh()

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def refresh(self) -> None:
        now = time.time()
        for row in self.tracker.take_changes():
            self.say("%s %-24s %-11s %-14s %-6s %s" % (time.strftime("%H:%M:%S", time.localtime(now)), row.name,
                                                     row.state, row.release or "-",
                                                     _fmt_elapsed(row.elapsed(now)), row.message))


class LiveView:
    """A rich Live table: host, state, version, time, message; a status line under it."""

    def __init__(self, tracker: RolloutTracker, title: str, console: t.Any = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.tracker = tracker
        self.title = title
        self.console = console or Console()
        self.status = ""
        self.live = Live(console=self.console, refresh_per_second=4, transient=False,
                         get_renderable=self.render)

    def __enter__(self) -> "LiveView":
        self.live.__enter__()
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.live.refresh()
        self.live.__exit__(None, None, None)

    def say(self, text: str) -> None:
        self.live.console.print(text, markup=False, highlight=False)

    def refresh(self) -> None:
        self.tracker.take_changes()

    def render(self) -> t.Any:
        """The title, the per-state counts and the pause (or status) line first, then the table kept within the
        terminal's height: one line per host, messages shortened (``noops tasks show`` has them in full) and, when
        the hosts do not fit, the hosts at work, failed and unreachable first with a line counting the others."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        now = time.time()
        tracker = self.tracker
        with tracker.lock:
            rows = [dataclasses.replace(r) for r in tracker.rows.values()]
            paused, task_id = tracker.paused, tracker.task_id
        counts = {s: sum(1 for r in rows if r.state == s) for s in HOST_STATES}
        head = [Text(self.title + ("  (task %d)" % task_id if task_id else ""), style="bold"),
                Text("  ".join("%s %d" % (s, n) for s, n in counts.items() if n) or "no host yet")]
        if paused:
            head.append(Text("%s\n%s" % (paused, pause_hint(task_id, True)), style="bold yellow"))
        elif self.status:
            head.append(Text(self.status, style="yellow"))
        width = self.console.size.width
        used = sum(len(part.wrap(self.console, width)) for part in head)
        # The table's header and borders take 4 lines; one more for a line counting the hosts left out.
        room = max(1, self.console.size.height - used - 4)
        shown = rows
        if len(rows) > room:
            rank = {s: i for i, s in enumerate(("deploying", "running", "failed", "unreachable", "pending"))}
            keep = sorted(range(len(rows)), key=lambda i: (rank.get(rows[i].state, len(rank)), i))[:max(1, room - 1)]
            shown = [rows[i] for i in sorted(keep)]
        table = Table(expand=False, show_lines=False,
                      caption="%d more host(s) not shown" % (len(rows) - len(shown)) if len(shown) < len(rows)
                      else None)
        cells = [(r.name, r.state, r.release or "-", _fmt_elapsed(r.elapsed(now))) for r in shown]
        widths = [max([len(col)] + [len(c[i]) for c in cells]) for i, col in enumerate(("host", "state", "release",
                                                                                        "time"))]
        for col, w, kw in zip(("host", "state", "release", "time"), widths, ({}, {}, {}, {"justify": "right"})):
            table.add_column(col, no_wrap=True, min_width=w, **kw)
        # Whole, on one line: the message column gives way (5 columns: 6 borders and 2 spaces of padding each).
        table.add_column("message", overflow="ellipsis", no_wrap=True,
                         width=max(8, min(80, width - sum(widths) - 16)))
        for r, (name, state, release, elapsed) in zip(shown, cells):
            message = Text(r.task, style="dim") if r.state in WORKING_STATES and r.task else Text(r.message)
            table.add_row(name, Text(state, style=STATE_STYLE.get(state, "")), release, elapsed, message)
        return Group(*head, table)


def summarize(outcome: t.Any, what: str, say: t.Callable[[str], None]) -> int:
    """Print the end of a run (per-state counts, failures, not reached hosts); returns the exit status.

    ``outcome`` is the runner's RunOutcome (rc, tracker, interrupted, ok).
    """
    tracker = outcome.tracker
    with tracker.lock:
        rows = list(tracker.rows.values())
        errors = tracker.errors()
        task_id, cancelled = tracker.task_id, tracker.cancelled
    for line in errors:
        say("error: %s" % line)
    counts = {s: sum(1 for r in rows if r.state == s) for s in HOST_STATES}
    order = ("success", "would change", "skipped", "failed", "unreachable", "deploying", "running", "pending")
    parts = ["%d %s" % (counts[s], "not reached" if s == "pending" else s) for s in order if counts[s]]
    label = " ".join(x for x in ("check" if tracker.check else "", what, tracker.version) if x)
    say("%s: %d host(s)%s%s" % (label, len(rows), (": " + ", ".join(parts)) if parts else "",
                                ("; task %d (noops tasks show %d)" % (task_id, task_id)) if task_id else ""))
    for row in rows:
        if row.state in ("failed", "unreachable"):
            say("  %s %s: %s" % (row.name, row.state, row.message or "-"))
    if cancelled:
        say("cancelled: %s" % cancelled)
    if outcome.ok:
        return EXIT_OK
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    if errors and not any(r.state != "pending" for r in rows):
        return EXIT_REJECTED
    return EXIT_FAILED
