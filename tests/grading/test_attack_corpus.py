"""The attack corpus (issue 7) graded by the real ``dlcourse autograde`` in one batch.

Every attack of :mod:`attack_corpus` and three honest submissions are graded together by
``dlcourse autograde UNIT --jobs 2`` (cheap limits: 8 s per cell, 60 s per notebook,
1500 MB per kernel), under a subreaper that sees every process the batch starts. Then,
for each attack, its scores equal what its real work earns, its note is in the grading
log and the report, and no output says it reached its goal. For the batch as a whole:
the honest submissions' grades, graded while the kernels compute with another BLAS core type
and thread count than the grader (:func:`tests.grading.conftest.other_numerics_env`), equal those of a
clean batch of them alone with the grader's own numerics, the gradebook
is intact (integrity check, one submission row per student, schema and stored tests
unchanged), the course's files and every submitted file are unchanged, no autograded
notebook was overwritten by a classmate, no kernel reached a listener on this machine's
loopback, and no process outlives the batch (checked when it ends and again after the
background attack's delay). About 5 minutes on 2 cores.

The expectations are those of the finished design (sandboxed kernels and the trusted
re-check); ``ATTACK_CORPUS=name,name pytest tests/grading/test_attack_corpus.py`` grades only
the attacks named, to look at one at a time.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import psutil
import pytest

from tests.grading.attack_corpus import (BACKGROUND_DELAY_S, CORPUS, HONEST, LIMIT_OPTIONS, MARK, MAX_SCORE,
                                         NOTEBOOK, UNIT, Attack, NetworkProbe, Sources, file_hashes,
                                         gradebook_state, outputs_text, place, selected, supervise)
from tests.conftest import make_course, run_tool, scores, tool_env
from tests.grading.conftest import other_numerics_env
from course_lib.grading.gradebook import read_log

pytestmark = pytest.mark.slow

ATTACKS = selected(CORPUS)
BATCH_TIMEOUT_S = 420
# what `dlcourse autograde` itself adds to a course root
GRADING_OUTPUTS = {"autograded", "grading-log.csv"}


def _course_state(course: Path) -> dict:
    """Hashes of everything grading must leave alone."""
    return {"config": (course / "nbgrader_config.py").read_bytes(),
            "source": file_hashes(course / "build" / "source"),
            "release": file_hashes(course / "notebooks"),
            "submitted": file_hashes(course / "submitted"),
            "root": sorted(p.name for p in course.iterdir()),
            "gradebook": gradebook_state(course)}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """The corpus and the honest submissions graded in one batch; the honest ones again alone."""
    course = make_course(tmp_path_factory.mktemp("attacked") / "course", [UNIT])
    probe = NetworkProbe()
    place(course, Sources.load(course, probe.port), [*ATTACKS, *HONEST])
    before = _course_state(course)
    delay = max([a.delay_s for a in ATTACKS] + [0])
    try:
        # the kernels compute with another BLAS than the grader: honest grades must not change
        run = supervise(["dlcourse", "autograde", UNIT, "--jobs", "2", *LIMIT_OPTIONS], cwd=course,
                        env={**tool_env(), **other_numerics_env(tmp_path_factory.mktemp("kernels"))},
                        timeout=BATCH_TIMEOUT_S, linger=delay + 2,
                        workdir=tmp_path_factory.mktemp("supervisor"))
    finally:
        probe.close()
    strays = [f"{p.pid}: {' '.join(p.info['cmdline'] or [])[:200]}"
              for p in psutil.process_iter(["cmdline", "cwd"])
              if str(course) in " ".join(p.info["cmdline"] or []) or str(p.info["cwd"] or "").startswith(str(course))]

    clean = make_course(tmp_path_factory.mktemp("clean") / "course", [UNIT])
    place(clean, Sources.load(clean), HONEST, target=False)
    run_tool("dlcourse", "autograde", UNIT, "--jobs", "2", *LIMIT_OPTIONS, cwd=clean)
    return {"course": course, "clean": clean, "run": run, "before": before, "strays": strays,
            "connections": probe.connections,
            "log": {row["student"]: row for row in read_log(course)}}


# --------------------------------------------------------------------------- the batch as a whole

def test_the_batch_finishes_without_grader_errors(batch):
    run = batch["run"]
    assert not run.timed_out, f"the batch did not finish in {BATCH_TIMEOUT_S} s:\n{run.output[-3000:]}"
    assert run.returncode == 0, run.output[-3000:]
    graded = set(batch["log"])
    missing = {a.name for a in [*ATTACKS, *HONEST]} - graded
    assert not missing, f"no grading-log row for {sorted(missing)}"


def test_honest_grades_equal_a_clean_batch_of_them(batch):
    for honest in HONEST:
        got, clean = scores(batch["course"], UNIT, honest.name), scores(batch["clean"], UNIT, honest.name)
        assert got == clean, f"{honest.name}: {got} beside the attacks, {clean} alone"
        assert {k: got[k] for k in honest.expected} == honest.expected, honest.name


def test_the_gradebook_is_intact(batch):
    course = batch["course"]
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = dict(db.execute("SELECT student_id, COUNT(*) FROM submitted_assignment GROUP BY student_id"))
    assert rows == {a.name: 1 for a in [*ATTACKS, *HONEST]}
    before, after = batch["before"]["gradebook"], gradebook_state(course)
    assert after["schema"] == before["schema"], "tables, indexes or triggers of the gradebook changed"
    assert after["source_cells"] == before["source_cells"], "stored test sources or checksums changed"
    assert after["grade_cells"] == before["grade_cells"], "stored points changed"


def test_the_course_files_are_unchanged(batch):
    course, before = batch["course"], batch["before"]
    after = _course_state(course)
    assert after["config"] == before["config"], "nbgrader_config.py changed"
    assert after["source"] == before["source"], "build/source changed"
    assert after["release"] == before["release"], "the release in notebooks/ changed"
    assert set(after["root"]) - set(before["root"]) <= GRADING_OUTPUTS, \
        f"new files in the course root: {sorted(set(after['root']) - set(before['root']) - GRADING_OUTPUTS)}"


def test_nobody_changed_a_classmates_files(batch):
    course, before = batch["course"], batch["before"]
    changed = sorted(rel for rel, digest in file_hashes(course / "submitted").items()
                     if before["submitted"].get(rel) != digest)
    assert not changed and file_hashes(course / "submitted").keys() == before["submitted"].keys(), \
        f"submitted files changed: {changed}"
    overwritten = [path.relative_to(course).as_posix() for path in (course / "autograded").glob(f"*/{UNIT}/*.ipynb")
                   if "overwritten_by" in json.loads(path.read_text(encoding="utf-8"))["metadata"]]
    assert not overwritten, f"autograded notebooks overwritten by a classmate: {overwritten}"


def test_no_kernel_reached_the_network(batch):
    assert batch["connections"] == 0, f"{batch['connections']} connection(s) from kernels to the loopback listener"


def test_no_process_outlives_the_batch(batch):
    run = batch["run"]
    assert not run.at_exit, f"processes still running after the batch ended: {run.at_exit}"
    assert not run.leftovers, (f"processes still running {BACKGROUND_DELAY_S} s after the batch "
                               f"(killed by the test): {run.leftovers}")
    assert not batch["strays"], f"processes outside the batch's tree in the course folder: {batch['strays']}"


# --------------------------------------------------------------------------- each attack

def _ids(attacks: list[Attack]) -> list[str]:
    return [a.name for a in attacks]


@pytest.mark.parametrize("attack", ATTACKS, ids=_ids(ATTACKS))
def test_attack_earns_what_its_work_earns(batch, attack: Attack):
    got = scores(batch["course"], UNIT, attack.name)
    assert got["max"] == MAX_SCORE, f"max score changed to {got['max']}"
    by_cell = {grade_id: got.get(grade_id) for grade_id in attack.expected}
    assert by_cell == attack.expected, f"{attack.description}: got {by_cell}, total {got['total']}"


@pytest.mark.parametrize("attack", ATTACKS, ids=_ids(ATTACKS))
def test_attack_is_reported_and_gets_nowhere(batch, attack: Attack):
    course, row = batch["course"], batch["log"].get(attack.name)
    assert row is not None, f"{attack.name} has no row in the grading log"
    assert row["status"] != "failed", f"grader error: {row['notes']}"
    autograded = course / "autograded" / attack.name / UNIT / NOTEBOOK
    assert MARK not in outputs_text(autograded), \
        f"{attack.description}: it reached its goal:\n" + "\n".join(
            line for line in outputs_text(autograded).splitlines() if MARK in line)[:2000]
    if attack.note:
        assert attack.note in row["notes"], f"note {attack.note!r} missing from the log: {row['notes']!r}"
        lines = [line for line in batch["run"].output.splitlines()
                 if line.startswith(f"{attack.name} (") and attack.note in line]
        assert lines, f"no report line for {attack.name} naming {attack.note!r}"
    if attack.max_notebook_bytes and autograded.exists():
        assert autograded.stat().st_size <= attack.max_notebook_bytes, \
            f"autograded notebook of {autograded.stat().st_size} bytes"
