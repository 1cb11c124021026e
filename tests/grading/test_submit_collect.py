"""``dlcourse submit`` and ``dlcourse collect``: the upload path from a student's laptop to ``submitted/``.

One instructor course (unit 01, a due date set with ``nbgrader db assignment add`` and
a class list) and one student checkout (release notebooks and unit sources,
as a student's clone of the repository has them) serve the whole file. Two students
submit with the real command: ada from a copy outside the course, bob in the release
folder itself with the self-check. Their archives are collected and graded beside the
same notebooks placed in ``submitted/`` directly, and the scores must be equal. Archives
for the refusal, duplicate and late cases are written with the same writer as ``submit``
(:func:`course_lib.grading.intake.archive.write_archive`), then tampered with.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import time
import zipfile
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from pathlib import Path

import nbformat
import pytest

from tests.conftest import BIN, ROOT, make_course, run_tool, scores, submit, tool_env
from course_lib.grading.intake.archive import MANIFEST_NAME, sha256, write_archive

UNIT = "01_linear_regression"
NB = "linear_regression.ipynb"
DUE = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
CLASS_LIST = ["ada", "bob", "carol", "dave"]          # erin is not on it
WRONG_PREDICT = '''\
def predict(X, w, b):
    return X @ w   # forgot the bias
'''


def dlcourse(*args: str, cwd: Path, student: str | None = None) -> subprocess.CompletedProcess:
    """Run ``dlcourse``; ``DLCOURSE_STUDENT`` is set to ``student``, or unset."""
    env = tool_env()
    env.pop("DLCOURSE_STUDENT", None)
    if student:
        env["DLCOURSE_STUDENT"] = student
    return subprocess.run([str(BIN / "dlcourse"), *args], cwd=cwd, env=env, text=True, capture_output=True,
                          timeout=600)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (dot files too) with its bytes, and every folder as ``b'<dir>'``."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>") for p in folder.rglob("*")}


def one_line_error(result: subprocess.CompletedProcess, expected: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    course = make_course(tmp_path_factory.mktemp("instructor") / "course", [UNIT])
    run_tool("nbgrader", "db", "assignment", "add", UNIT, f"--duedate={DUE.isoformat()}", cwd=course)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:   # as `nbgrader db student add` does
        for student in CLASS_LIST:
            gradebook.update_or_create_student(student)
    return course


@pytest.fixture(scope="module")
def notebooks(course, tmp_path_factory) -> dict[str, Path]:
    """The solution, a wrong variant (predict forgets the bias) and the untouched release."""
    folder = tmp_path_factory.mktemp("notebooks")
    solution = course / "build" / "source" / UNIT / NB
    wrong = nbformat.read(solution, 4)
    answer = next(c for c in wrong.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "predict_answer")
    answer.source = WRONG_PREDICT
    nbformat.write(wrong, folder / "wrong.ipynb")
    return {"solution": solution, "wrong": folder / "wrong.ipynb", "release": course / "notebooks" / UNIT / NB}


@pytest.fixture(scope="module")
def checkout(course, tmp_path_factory) -> Path:
    """A student's copy of the course: nbgrader_config.py, the release and the unit's sources."""
    checkout = tmp_path_factory.mktemp("student") / "dl-course"
    shutil.copytree(course / "notebooks" / UNIT, checkout / "notebooks" / UNIT)
    shutil.copytree(ROOT / "solutions" / UNIT, checkout / "solutions" / UNIT)
    shutil.copy(course / "nbgrader_config.py", checkout)
    return checkout


@pytest.fixture(scope="module")
def handed_in(checkout, notebooks, tmp_path_factory) -> dict:
    """ada submits the solution from a copy outside the course (--student, --out, --no-check);
    bob the wrong variant, working in the release folder, by unit number with the self-check."""
    uploads = tmp_path_factory.mktemp("uploads")
    ada_copy = tmp_path_factory.mktemp("ada") / NB
    shutil.copy(notebooks["solution"], ada_copy)
    bob_notebook = checkout / "notebooks" / UNIT / NB
    shutil.copy(notebooks["wrong"], bob_notebook)
    old = time.time_ns() - 3 * 86400 * 10**9
    os.utime(bob_notebook, ns=(old, old))
    before = {"bytes": bob_notebook.read_bytes(), "mtime": bob_notebook.stat().st_mtime_ns}
    started = datetime.now(timezone.utc)
    ada = dlcourse("submit", str(ada_copy), "--student", "ada", "--out", str(uploads), "--no-check",
                   cwd=ada_copy.parent)
    bob = dlcourse("submit", "01", cwd=checkout, student="bob")
    bob_archive = checkout / "submissions" / f"bob_{UNIT}.zip"
    shutil.copy(bob_archive, uploads)
    return {"ada": ada, "bob": bob, "uploads": uploads, "bob_notebook": bob_notebook, "before": before,
            "bob_archive": bob_archive, "started": started, "finished": datetime.now(timezone.utc)}


def _manifest(archive: Path) -> dict:
    with zipfile.ZipFile(archive) as z:
        return json.loads(z.read(MANIFEST_NAME))


# --------------------------------------------------------------------------- submit

def test_submit_archives_the_notebook_as_saved_and_never_touches_it(handed_in, notebooks):
    bob, ada = handed_in["bob"], handed_in["ada"]
    assert bob.returncode == 0, bob.stdout + bob.stderr
    assert "Self-check of linear_regression.ipynb" in bob.stdout
    assert "predict" in bob.stdout and "failed" in bob.stdout          # the table
    assert "warning:" in bob.stdout and "fail their visible checks" in bob.stdout
    assert ada.returncode == 0, ada.stdout + ada.stderr
    assert "Self-check skipped" in ada.stdout and "Self-check of" not in ada.stdout

    notebook, before = handed_in["bob_notebook"], handed_in["before"]
    assert notebook.read_bytes() == before["bytes"]
    assert notebook.stat().st_mtime_ns == before["mtime"]
    with zipfile.ZipFile(handed_in["bob_archive"]) as z:
        assert sorted(z.namelist()) == sorted([MANIFEST_NAME, NB])
        assert z.read(NB) == before["bytes"]
    manifest = _manifest(handed_in["bob_archive"])
    assert manifest["student"] == "bob" and manifest["unit"] == UNIT
    assert manifest["course_version"] == version("dlcourse")
    assert manifest["files"] == [{"name": NB, "sha256": sha256(before["bytes"]), "bytes": len(before["bytes"])}]
    moment = datetime.fromisoformat(manifest["submitted_at"])
    assert moment.utcoffset() is not None
    assert handed_in["started"] <= moment <= handed_in["finished"]
    with zipfile.ZipFile(handed_in["uploads"] / f"ada_{UNIT}.zip") as z:
        assert z.read(NB) == notebooks["solution"].read_bytes()


def test_submit_refuses_with_one_line(checkout, notebooks, tmp_path):
    release = checkout / "notebooks" / UNIT
    copy = release / "linear_regression-Copy1.ipynb"
    shutil.copy(notebooks["solution"], copy)
    untouched_copy = tmp_path / NB
    shutil.copy(notebooks["release"], untouched_copy)
    in_place = tmp_path / "in-place" / "notebooks" / UNIT / NB     # a fresh checkout, nothing done yet
    shutil.copytree(checkout / "solutions", tmp_path / "in-place" / "solutions")
    shutil.copy(checkout / "nbgrader_config.py", tmp_path / "in-place")
    in_place.parent.mkdir(parents=True)
    shutil.copy(notebooks["release"], in_place)
    out = tmp_path / "out"
    try:
        cases = [
            (dlcourse("submit", str(in_place), "--out", str(out), cwd=tmp_path), "no student id"),
            (dlcourse("submit", UNIT, "--out", str(out), cwd=checkout, student="../eve"), "is not a valid id"),
            (dlcourse("submit", "99_nothing", "--out", str(out), cwd=checkout, student="eve"), "no unit '99_nothing'"),
            (dlcourse("submit", str(copy), "--out", str(out), cwd=checkout, student="eve"),
             "linear_regression-Copy1.ipynb is not part of unit 01_linear_regression"),
            (dlcourse("submit", str(in_place), "--out", str(out), cwd=tmp_path, student="eve"), "is still as released"),
            (dlcourse("submit", str(untouched_copy), "--out", str(out), cwd=tmp_path, student="eve"),
             "is still as released"),
        ]
    finally:
        copy.unlink()
    for result, expected in cases:
        one_line_error(result, expected)
    assert not out.exists()
    # the same in-place checkout is accepted once an answer changed
    shutil.copy(notebooks["wrong"], in_place)
    accepted = dlcourse("submit", str(in_place), "--out", str(out), "--no-check", cwd=tmp_path, student="eve")
    assert accepted.returncode == 0, accepted.stderr
    assert (out / f"eve_{UNIT}.zip").is_file()


# --------------------------------------------------------------------------- collect and grade

def test_collect_then_autograde_scores_as_grading_in_place(course, handed_in, notebooks):
    result = run_tool("dlcourse", "collect", UNIT, str(handed_in["uploads"]), cwd=course)
    assert "2 imported" in result.stdout
    for student in ("ada", "bob"):
        folder = course / "submitted" / student / UNIT
        assert sorted(p.name for p in folder.iterdir()) == sorted([NB, "timestamp.txt"])
    assert (course / "submitted" / "bob" / UNIT / NB).read_bytes() == handed_in["before"]["bytes"]
    submit(course, "ada-in-place", UNIT, notebooks["solution"])
    submit(course, "bob-in-place", UNIT, notebooks["wrong"], NB)
    run_tool("dlcourse", "autograde", UNIT, "--jobs", "2", cwd=course)

    ada, bob = scores(course, UNIT, "ada"), scores(course, UNIT, "bob")
    assert ada == scores(course, UNIT, "ada-in-place")
    assert bob == scores(course, UNIT, "bob-in-place")
    assert ada["total"] == ada["max"] > 0
    assert bob["total"] < bob["max"] and bob["predict"] == 0
    # nbgrader's own lateness: the gradebook has the manifest's time and the due date
    from nbgrader.api import Gradebook

    submitted_at = datetime.fromisoformat(_manifest(handed_in["bob_archive"])["submitted_at"])
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(UNIT, "bob")
        assert submission.timestamp.replace(tzinfo=timezone.utc) == submitted_at
        assert submission.total_seconds_late == pytest.approx((submitted_at - DUE).total_seconds(), abs=1)
        assert gradebook.find_submission(UNIT, "bob-in-place").total_seconds_late == 0


def _archive(folder: Path, name: str, student: str, moment: datetime, data: bytes) -> Path:
    path = folder / name
    write_archive(path, student, UNIT, {NB: data}, "0.1.0", moment)
    return path


def test_duplicates_late_unknown_students_and_reruns(course, notebooks, tmp_path):
    solution, wrong = notebooks["solution"].read_bytes(), notebooks["wrong"].read_bytes()
    local = timezone(timedelta(hours=2))          # students' clocks: UTC+2
    uploads = tmp_path / "uploads"
    early = _archive(uploads, f"carol_{UNIT}.zip", "carol", (DUE - timedelta(days=2)).astimezone(local), solution)
    late = _archive(uploads / "resubmitted", f"carol_{UNIT}.zip", "carol",
                    (DUE + timedelta(hours=3)).astimezone(local), wrong)
    _archive(uploads, f"dave_{UNIT}.zip", "dave", DUE - timedelta(hours=1), solution)
    _archive(uploads, f"erin_{UNIT}.zip", "erin", DUE - timedelta(minutes=5), solution)

    first = run_tool("dlcourse", "collect", UNIT, str(uploads), cwd=course)
    out = first.stdout
    assert "1 aside, 3 imported" in out
    assert "from the gradebook): 1 late." in out
    late_lines = [line for line in out.splitlines() if line.startswith("late:")]
    assert len(late_lines) == 1 and "(carol) by 3 h 00 min" in late_lines[0]
    assert "(erin): not in the gradebook's student list; imported anyway" in out
    assert not any("(dave)" in line for line in out.splitlines())
    carol = course / "submitted" / "carol" / UNIT
    assert (carol / NB).read_bytes() == wrong                          # the newest one
    assert (carol / "timestamp.txt").read_text() == (DUE + timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    aside = course / "submitted-aside" / "carol" / UNIT
    [kept] = list(aside.iterdir())
    assert (kept / NB).read_bytes() == solution
    assert kept.name == (DUE - timedelta(days=2)).strftime("%Y%m%dT%H%M%S.%fZ")

    # running again on the same archives changes nothing
    snapshot = {**tree(course / "submitted"), **{f"aside/{k}": v for k, v in tree(course / "submitted-aside").items()}}
    again = run_tool("dlcourse", "collect", UNIT, str(uploads), cwd=course)
    assert "4 unchanged." in again.stdout
    assert snapshot == {**tree(course / "submitted"),
                        **{f"aside/{k}": v for k, v in tree(course / "submitted-aside").items()}}

    # a newer resubmission replaces carol's; an older straggler is set aside; nothing is deleted
    newest = _archive(tmp_path / "later", f"carol_{UNIT}.zip", "carol", DUE + timedelta(hours=5), solution)
    straggler = _archive(tmp_path / "later", f"carol_{UNIT} (2).zip", "carol", DUE - timedelta(days=1), wrong)
    # (--due overrides the gradebook's due date for the report)
    third = run_tool("dlcourse", "collect", UNIT, str(newest), str(straggler), str(late),
                     "--due", "2025-06-02T12:00+02:00", cwd=course)
    assert "1 aside, 1 replaced, 1 unchanged" in third.stdout
    assert "(from --due): 0 late." in third.stdout
    assert "--due differs from the gradebook's due date" in third.stdout
    assert (carol / NB).read_bytes() == solution
    assert sorted(p.name for p in aside.iterdir()) == sorted(
        (DUE + timedelta(hours=h)).strftime("%Y%m%dT%H%M%S.%fZ") for h in (-48, -24, 3))
    assert early.is_file() and late.is_file()                          # the uploads are left alone


# --------------------------------------------------------------------------- tampered archives

def _zip(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in entries:
            z.writestr(info, data)
    return path


def _bombs(honest: Path, lying: Path, manifest: bytes) -> None:
    """Two archives whose notebook inflates to 1 GiB of zeros: one says so, the other's
    central directory declares 1000 bytes instead."""
    info = zipfile.ZipInfo(NB)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(honest, "w", compresslevel=1) as z:
        z.writestr(MANIFEST_NAME, manifest)
        with z.open(info, "w") as stream:
            zeros = bytes(2**20)
            for _ in range(1024):
                stream.write(zeros)
    data = bytearray(honest.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at != -1:    # the central directory entry of NB: uncompressed size at +24, name at +46
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46:at + 46 + name_length] == NB.encode():
            struct.pack_into("<I", data, at + 24, 1000)
        at = data.find(b"PK\x01\x02", at + 4)
    lying.write_bytes(bytes(data))


def test_collect_refuses_tampered_archives_and_leaves_submitted_alone(course, notebooks, tmp_path):
    data = notebooks["solution"].read_bytes()
    good = _archive(tmp_path, "good.zip", "ada", datetime.now(timezone.utc), data)
    with zipfile.ZipFile(good) as z:
        manifest = json.loads(z.read(MANIFEST_NAME))
    text = json.dumps(manifest).encode()

    def with_manifest(**changes) -> bytes:
        return json.dumps({**manifest, **changes}).encode()

    link = zipfile.ZipInfo(NB)
    link.external_attr = (0o120777) << 16          # a symbolic link, as `zip --symlinks` stores it
    bad = tmp_path / "bad"
    expected = {
        "truncated.zip": "is not a readable zip archive",
        "not-a-zip.zip": "is not a readable zip archive",
        "no-manifest.zip": "has no manifest.json",
        "bad-json.zip": "manifest.json is not valid JSON",
        "other-unit.zip": "is a submission of unit 02_backpropagation, not 01_linear_regression",
        "bad-student.zip": "the manifest's student '../../etc' is not a valid id",
        "edited.zip": "'linear_regression.ipynb' was changed after the archive was made",
        "extra.zip": "holds an unexpected file 'notes.txt'",
        "missing.zip": "is missing 'linear_regression.ipynb'",
        "not-in-unit.zip": "holds 'backpropagation.ipynb', which is not a notebook of 01_linear_regression",
        "traversal.zip": "holds a path that leaves its folder: '../linear_regression.ipynb'",
        "absolute.zip": "holds an absolute path '/tmp/linear_regression.ipynb'",
        "symlink.zip": "holds a symbolic link 'linear_regression.ipynb'",
        "bomb.zip": "uncompressed, more than the 104857600 allowed (zip bomb?)",
        "lying-bomb.zip": "'linear_regression.ipynb' is corrupt or inflates past its declared 1000 bytes",
    }
    bad.mkdir()
    (bad / "truncated.zip").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (bad / "not-a-zip.zip").write_bytes(b"this is my homework, really")
    _zip(bad / "no-manifest.zip", [(NB, data)])
    _zip(bad / "bad-json.zip", [(MANIFEST_NAME, b"{"), (NB, data)])
    _zip(bad / "other-unit.zip", [(MANIFEST_NAME, with_manifest(unit="02_backpropagation")), (NB, data)])
    _zip(bad / "bad-student.zip", [(MANIFEST_NAME, with_manifest(student="../../etc")), (NB, data)])
    _zip(bad / "edited.zip", [(MANIFEST_NAME, text), (NB, data.replace(b"return", b"return 0 *", 1))])
    _zip(bad / "extra.zip", [(MANIFEST_NAME, text), (NB, data), ("notes.txt", b"hi")])
    _zip(bad / "missing.zip", [(MANIFEST_NAME, text)])
    _zip(bad / "not-in-unit.zip", [(MANIFEST_NAME, with_manifest(files=[
        *manifest["files"], {"name": "backpropagation.ipynb", "sha256": sha256(data)}])),
        (NB, data), ("backpropagation.ipynb", data)])
    _zip(bad / "traversal.zip", [(MANIFEST_NAME, text), (f"../{NB}", data)])
    _zip(bad / "absolute.zip", [(MANIFEST_NAME, text), (zipfile.ZipInfo(f"/tmp/{NB}"), data)])
    _zip(bad / "symlink.zip", [(MANIFEST_NAME, with_manifest(files=[
        {"name": NB, "sha256": sha256(b"/etc/passwd")}])), (link, b"/etc/passwd")])
    _bombs(bad / "bomb.zip", bad / "lying-bomb.zip", text)
    assert len(list(bad.iterdir())) == len(expected)

    (course / "submitted").mkdir(exist_ok=True)      # whatever the other tests left there must stay as it is
    before = {"submitted": tree(course / "submitted"), "aside": tree(course / "submitted-aside")}
    started = time.monotonic()
    result = run_tool("dlcourse", "collect", UNIT, str(bad), cwd=course, check=False)
    seconds = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    refusals = {line.split(":", 1)[0].removeprefix("refused ").rsplit("/", 1)[-1]: line
                for line in result.stdout.splitlines() if line.startswith("refused ")}
    assert sorted(refusals) == sorted(expected)
    for name, reason in expected.items():
        assert reason in refusals[name], refusals[name]
    assert f"{len(expected)} refused" in result.stdout
    assert {"submitted": tree(course / "submitted"), "aside": tree(course / "submitted-aside")} == before
    assert seconds < 30, f"refusing took {seconds:.0f} s: the bombs were inflated"

    # the untampered archive passes
    accepted = run_tool("dlcourse", "collect", UNIT, str(good), cwd=course)
    assert "refused" not in accepted.stdout
    assert (course / "submitted" / "ada" / UNIT / NB).read_bytes() == data
