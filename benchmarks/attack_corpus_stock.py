"""Grade the attack corpus with stock ``nbgrader autograde`` and with ``dlcourse autograde``; print a table.

Run on demand: ``.venv/bin/python benchmarks/attack_corpus_stock.py [--only NAME,NAME] [--timeout 120]``.

The corpus is ``tests/grading/attack_corpus.py`` (issue 7). Stock nbgrader grades with no sandbox and
no limits of its own, so some attacks damage the course it grades or hang it. Each attack is
therefore graded alone, serially, in a throwaway copy of a course in which an honest
classmate (the solution) was already graded, under a wall-clock limit per notebook and a
memory cap (``RLIMIT_DATA``, so that a memory bomb cannot take the machine down), with the
same cell time limit as ``dlcourse``. Afterwards the copy is compared with its state before:
the classmate's grade, ``nbgrader_config.py``, the gradebook's schema and stored tests, new
files in the course root, processes left running, connections to a listener on this
machine's loopback, and whether the attack printed that it reached its goal.

``dlcourse autograde --jobs 2`` grades the whole corpus with the honest submissions in one
batch in another copy (as ``tests/grading/test_attack_corpus.py`` does).

Prints a markdown table: attack | stock nbgrader | dlcourse autograde | max | what the
attack did under stock nbgrader.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib.grading.build import build  # noqa: E402
from tests.grading.attack_corpus import (CELL_TIMEOUT_S, CORPUS, HONEST, LIMIT_OPTIONS, MARK,  # noqa: E402
                                         MAX_SCORE, NOTEBOOK, UNIT, NetworkProbe, Sources, file_hashes,
                                         gradebook_state, outputs_text, place, supervise)

BIN = Path(sys.executable).parent
CONFIG = ("from pathlib import Path\nfrom course_lib.grading.config import configure\n"
          "configure(get_config(), Path(__file__).resolve().parent)\n")
CLASSMATE = HONEST[0]                # graded before each attack, in each throwaway copy
STOCK_CELL_LIMIT = [f"--Execute.timeout={CELL_TIMEOUT_S}", f"--CourseExecute.timeout={CELL_TIMEOUT_S}"]


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def score(course: Path, student: str) -> float | None:
    """The student's total in the course's gradebook, or None when nbgrader recorded nothing."""
    with sqlite3.connect(course / "gradebook.db", timeout=60) as db:
        row = db.execute("SELECT SUM(COALESCE(g.manual_score, g.auto_score, 0)), COUNT(g.id) "
                         "FROM grade g JOIN submitted_notebook sn ON g.notebook_id = sn.id "
                         "JOIN submitted_assignment sa ON sn.assignment_id = sa.id "
                         "WHERE sa.student_id = ?", (student,)).fetchone()
    return float(row[0]) if row and row[1] else None


def state(course: Path) -> dict:
    return {"config": (course / "nbgrader_config.py").read_bytes(), "gradebook": gradebook_state(course),
            "classmate": score(course, CLASSMATE.name), "root": {p.name for p in course.iterdir()},
            "submitted": file_hashes(course / "submitted" / CLASSMATE.name)}


def stock_grade(template: Path, scratch: Path, sources: Sources, attack, timeout: int, memory_mb: int,
                probe: NetworkProbe) -> tuple[str, list[str]]:
    """Grade ``attack`` with stock nbgrader in a fresh copy of ``template``: (score cell, side effects)."""
    course = scratch / f"stock-{attack.name}"
    shutil.copytree(template, course)
    place(course, sources, [attack])
    before, connections = state(course), probe.connections
    run = supervise([str(BIN / "nbgrader"), "autograde", UNIT, "--student", attack.name, *STOCK_CELL_LIMIT],
                    cwd=course, env=env(), timeout=timeout, linger=attack.delay_s + 2,
                    workdir=Path(tempfile.mkdtemp(dir=scratch)), memory_mb=memory_mb)
    after = state(course)
    effects = []
    got = score(course, attack.name)
    if run.timed_out:
        cell = f"hung (killed after {timeout} s)"
    elif run.returncode is not None and run.returncode < 0:
        cell = f"grader killed by signal {-run.returncode}"
    elif got is None:
        cell = f"error (exit {run.returncode}, nothing recorded)"
    else:
        cell = f"{got:g}" + ("" if run.returncode == 0 else f" (nbgrader exit {run.returncode})")
    autograded = course / "autograded" / attack.name / UNIT / NOTEBOOK
    if MARK in outputs_text(autograded):
        effects.append("printed that it reached its goal")
    if after["classmate"] != before["classmate"]:
        effects.append(f"changed the classmate's grade {before['classmate']:g} -> {after['classmate']:g}")
    if after["submitted"] != before["submitted"]:
        effects.append("overwrote the classmate's submission")
    if after["config"] != before["config"]:
        effects.append("wrote to nbgrader_config.py")
    if after["gradebook"]["schema"] != before["gradebook"]["schema"]:
        effects.append("added to the gradebook's schema (a trigger)")
    if after["gradebook"]["source_cells"] != before["gradebook"]["source_cells"]:
        effects.append("rewrote the stored tests")
    new = sorted(after["root"] - before["root"] - {"autograded"})
    if new:
        effects.append(f"left {', '.join(new)} in the course")
    if probe.connections > connections:
        effects.append("reached the network")
    if run.at_exit:
        effects.append(f"{len(run.at_exit)} process(es) outlived grading")
    shutil.rmtree(course, ignore_errors=True)
    return cell, effects


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated attack names (default: the whole corpus)")
    parser.add_argument("--timeout", type=int, default=180, help="wall-clock limit per stock nbgrader run (s)")
    parser.add_argument("--memory-mb", type=int, default=4096, help="RLIMIT_DATA for stock nbgrader and its kernel")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    attacks = [a for a in CORPUS if not names or a.name in names]
    if names and len(attacks) != len(names):
        raise SystemExit(f"unknown attacks: {', '.join(sorted(set(names) - {a.name for a in CORPUS}))}")

    probe = NetworkProbe()
    with tempfile.TemporaryDirectory(prefix="dlcourse-attacks-") as folder:
        scratch = Path(folder)
        base = scratch / "base"
        base.mkdir()
        (base / "nbgrader_config.py").write_text(CONFIG)
        build(ROOT, only=[UNIT], output_root=base)
        sources = Sources.load(base, probe.port)

        # dlcourse: the whole corpus and the honest submissions in one batch
        ours = scratch / "dlcourse"
        shutil.copytree(base, ours)
        place(ours, sources, [*attacks, *HONEST])
        run = supervise([str(BIN / "dlcourse"), "autograde", UNIT, "--jobs", "2", *LIMIT_OPTIONS], cwd=ours,
                        env=env(), timeout=1800, linger=max(a.delay_s for a in attacks) + 2,
                        workdir=Path(tempfile.mkdtemp(dir=scratch)))
        if run.timed_out:
            print(f"dlcourse autograde did not finish in 1800 s:\n{run.output[-2000:]}", file=sys.stderr)

        # stock nbgrader: each attack alone, after the classmate, in a throwaway copy
        template = scratch / "stock-template"
        shutil.copytree(base, template)
        place(template, sources, [CLASSMATE], target=False)
        supervise([str(BIN / "nbgrader"), "autograde", UNIT, *STOCK_CELL_LIMIT], cwd=template, env=env(),
                  timeout=args.timeout, linger=0, workdir=Path(tempfile.mkdtemp(dir=scratch)),
                  memory_mb=args.memory_mb)
        rows = []
        for attack in attacks:
            print(f"stock nbgrader: {attack.name} ...", file=sys.stderr, flush=True)
            cell, effects = stock_grade(template, scratch, sources, attack, args.timeout, args.memory_mb, probe)
            got = score(ours, attack.name)
            rows.append((attack, cell, "no grade" if got is None else f"{got:g}", effects))
        honest = {h.name: score(ours, h.name) for h in HONEST}
    probe.close()

    print(f"\nThe attack corpus ({len(attacks)} submissions of {UNIT}, tests/grading/attack_corpus.py): the score each "
          f"earns from stock `nbgrader autograde` (alone, serially, {CELL_TIMEOUT_S} s per cell) and from "
          f"`dlcourse autograde --jobs 2` (one batch with {len(HONEST)} honest submissions, "
          f"{' '.join(LIMIT_OPTIONS)}). `expected` is what its real work earns.\n")
    print("| attack | stock nbgrader | dlcourse autograde | expected | max | what it did under stock nbgrader |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for attack, stock, ours_cell, effects in rows:
        flag = "" if ours_cell == f"{attack.total:g}" else " **(!)**"
        print(f"| `{attack.name}`: {attack.description} | {stock} | {ours_cell}{flag} | {attack.total:g} | "
              f"{MAX_SCORE} | {'; '.join(effects) or '-'} |")
    print("\nHonest submissions graded beside the corpus by dlcourse: "
          + ", ".join(f"{name} {'no grade' if s is None else f'{s:g}'}" for name, s in honest.items())
          + f" (expected {', '.join(f'{h.total:g}' for h in HONEST)}). **(!)** marks a dlcourse score other "
          f"than the expected one.")
    wrong = [a.name for a, _, ours_cell, _ in rows if ours_cell != f"{a.total:g}"]
    print(f"dlcourse scores as expected for {len(rows) - len(wrong)} of {len(rows)} attacks"
          + (f"; not for: {', '.join(wrong)}." if wrong else "."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
