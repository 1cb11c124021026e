"""What the commands print: progress, one-line notes and the summaries of a run.

One duration formatter (:func:`duration`), one way to print a line that never wraps (so
it greps: :func:`print_line`), the progress reporters of ``dlcourse autograde`` and the
summaries that ``dlcourse autograde`` and ``dlcourse collect`` end with.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Callable

from .autograde import Reporter


def duration(seconds: float) -> str:
    """``2 d 3 h``, ``3 h 05 min``, ``12 min``, ``40 s``."""
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


def print_line(console, text: str, style: str = "") -> None:
    """``text`` on one line (never wrapped, so it greps), in ``style``; markup in it is shown as is."""
    from rich.markup import escape

    console.print(f"[{style}]{escape(text)}[/]" if style else escape(text), soft_wrap=True)


def print_notes(console, notes) -> None:
    """Each of ``notes`` as ``note: ...``, in yellow, one line each."""
    for note in notes:
        print_line(console, f"note: {note}", "yellow")


def status_counts(statuses) -> str:
    """``2 imported, 1 refused``: how many of each status, by name."""
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


# --------------------------------------------------------------------------- dlcourse autograde

class PlainReporter(Reporter):
    """One line per graded submission (for logs and pipes): done/total, rate and ETA."""

    def __init__(self, echo: Callable[[str], None]):
        self.echo = echo

    def start(self, total, summary):
        self.started, self.total = time.monotonic(), total
        for line in summary.warnings:
            self.echo(line)
        self.echo(f"grading {total} submission{'s' if total != 1 else ''} of {summary.assignment} "
                  f"on {summary.workers}")

    def result(self, outcome, done, total):
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate else 0.0
        self.echo(f"[{done}/{total}] {outcome.student}: {outcome.score:g}/{outcome.max_score:g} points, "
                  f"{outcome.status}, {outcome.seconds:.1f} s | {rate * 60:.1f}/min, ETA {duration(eta)}")
        for note in outcome.notes:
            self.echo(note_line(outcome, note))


class BarReporter(Reporter):
    """A rich progress bar: done/total, rate, elapsed, ETA; problems printed above it."""

    def __init__(self, console):
        self.console = console

    def start(self, total, summary):
        from rich.markup import escape
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                                   TimeElapsedColumn)
        from rich.text import Text

        class Rate(ProgressColumn):
            """Submissions per minute since the start (steadier than rich's recent-window speed)."""

            def render(self, task):
                rate = task.completed / task.elapsed * 60 if task.elapsed and task.completed else 0
                return Text(f"{rate:.1f}/min" if rate else "-/min")

        class Eta(ProgressColumn):
            def render(self, task):
                if not task.completed or not task.elapsed:
                    return Text("ETA -")
                return Text(f"ETA {duration((task.total - task.completed) * task.elapsed / task.completed)}")

        for line in summary.warnings:
            self.console.print(f"[bold red]{escape(line)}[/]", soft_wrap=True)
        self.console.print(f"grading {total} submission{'s' if total != 1 else ''} of "
                           f"{summary.assignment} on {summary.workers}")
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(),
                            TimeElapsedColumn(), Eta(), console=self.console)
        self.bar.start()
        self.task = self.bar.add_task(summary.assignment, total=total)

    def result(self, outcome, done, total):
        from rich.markup import escape

        colour = {"limit": "yellow", "invalid": "yellow", "failed": "red"}.get(outcome.status, "white")
        for note in outcome.notes:
            self.bar.console.print(f"[{colour}]{escape(note_line(outcome, note))}[/]", soft_wrap=True)
        self.bar.update(self.task, completed=done)

    def finish(self):
        if hasattr(self, "bar"):
            self.bar.stop()


def note_line(outcome, note: str) -> str:
    return f"{outcome.student} ({outcome.status}, {outcome.score:g}/{outcome.max_score:g} points): {note}"


def autograde_summary(summary, console, log_path: Path) -> None:
    """The report: one line per problem (never wrapped, so it greps), counts, time, the log's path."""
    line = partial(print_line, console)
    print_notes(console, summary.problems)
    for o in summary.outcomes:
        style = {"ok": "", "limit": "yellow", "invalid": "yellow", "failed": "red"}[o.status]
        for note in o.notes:
            line(note_line(o, note), style)
    graded = len(summary.outcomes)
    detail = status_counts(o.status for o in summary.outcomes)
    rate = graded / summary.seconds * 60 if summary.seconds else 0
    text = (f"Graded {graded} submission{'s' if graded != 1 else ''} of {summary.assignment}"
            + (f" ({detail})" if detail else "") + f" in {duration(summary.seconds)}"
            + (f" on {summary.workers}, {rate:.1f}/min" if graded else "") + ".")
    if summary.already_graded:
        n = len(summary.already_graded)
        text += f" {n} already graded (use --force to regrade {'it' if n == 1 else 'them'})."
    line(text)
    if graded:
        line(f"Timings and notes: {log_path}")
    if summary.failed:
        line(f"{len(summary.failed)} submission(s) could not be graded (grader error); "
             f"run the same command again to retry them.", "red")
    if summary.interrupted:
        line("Interrupted. Run the same command again to grade the rest.", "red")
    unsandboxed = [o for o in summary.outcomes if any("graded WITHOUT the sandbox" in n for n in o.notes)]
    for warning in summary.warnings or ([f"WARNING: {len(unsandboxed)} submission(s) were graded WITHOUT "
                                         f"the sandbox; see their notes"] if unsandboxed else []):
        line(warning, "bold red")


# --------------------------------------------------------------------------- dlcourse collect

def collect_summary(summary, console, root: Path) -> None:
    """One line per refusal and note (never wrapped, so it greps), then a table and the counts."""
    from rich.markup import escape
    from rich.table import Table

    from .collect import relative, when

    line = partial(print_line, console)
    print_notes(console, summary.notes)
    for row in summary.rows:
        name = relative(row.archive.resolve(), Path.cwd())
        if row.status == "refused":
            line(f"refused {name}: {row.notes[0]}", "red")
            continue
        if row.late_by is not None:
            line(f"late: {name} ({row.student}) by {duration(row.late_by.total_seconds())}", "yellow")
        for note in row.notes:
            line(f"{name} ({row.student}): {note}", "yellow")
    table = Table(title=f"Collected archives of {summary.unit}")
    table.add_column("archive", overflow="fold")
    for column in ("student", "result", "submitted", "late by"):
        table.add_column(column, no_wrap=True)
    colours = {"imported": "green", "replaced": "green", "unchanged": "", "aside": "yellow", "refused": "red"}
    for row in summary.rows:
        status = f"[{colours[row.status]}]{row.status}[/]" if colours[row.status] else row.status
        table.add_row(escape(row.archive.name), escape(row.student), status,
                      when(row.submitted_at) if row.submitted_at else "",
                      duration(row.late_by.total_seconds()) if row.late_by is not None else "")
    console.print(table)
    late = sum(row.late_by is not None for row in summary.rows)
    text = (f"{len(summary.rows)} archive(s) of {summary.unit}: "
            + status_counts(row.status for row in summary.rows) + ". ")
    if summary.due is not None:
        text += f"Due {when(summary.due)} (from {summary.due_source}): {late} late."
    else:
        text += (f"No due date (pass --due, or set one with `nbgrader db assignment add {summary.unit} "
                 f"--duedate=...`).")
    line(text)
    if summary.refused:
        line(f"{len(summary.refused)} archive(s) refused; submitted/ is unchanged for them. Ask the students "
             f"to submit again with `dlcourse submit`.", "red")
