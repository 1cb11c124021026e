"""The submission archive: what ``dlcourse submit`` writes and ``dlcourse collect`` accepts.

One zip per student and unit, flat, holding the unit's notebooks exactly as the student
saved them and a ``manifest.json``::

    {"format": "dlcourse-submission/1", "student": "ada", "unit": "01_linear_regression",
     "course_version": "0.1.0", "submitted_at": "2025-03-01T10:15:02.123456+01:00",
     "files": [{"name": "linear_regression.ipynb", "sha256": "...", "bytes": 27288}]}

:func:`write_archive` makes one; :func:`read_archive` checks one completely *before*
anything is written anywhere and returns its files as bytes. An archive comes from a
student's machine, so it is treated as hostile: it is refused (:class:`ArchiveError`,
one line) when it is not a zip, has no valid manifest, holds paths that leave the
folder, links, files the manifest does not name or a unit does not have, misses a named
file, has a file whose SHA-256 differs from the manifest's, or declares or inflates to
more than :data:`MAX_UNCOMPRESSED_BYTES`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..config import CourseError

MANIFEST_NAME = "manifest.json"
FORMAT = "dlcourse-submission/1"
#: the most an archive may hold uncompressed, all files together (declared and real)
MAX_UNCOMPRESSED_BYTES = 100 * 2**20
MAX_MANIFEST_BYTES = 2**20
MAX_ENTRIES = 64
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_CHUNK = 2**20


class ArchiveError(CourseError):
    """Why an archive is refused, in one line."""


def check_id(value: str, what: str) -> str:
    """``value`` if it is a safe student or unit id (letters, digits, ``._-``; not starting
    with ``.`` or ``-``), else a :class:`CourseError` naming ``what``."""
    if not isinstance(value, str) or not _SAFE_ID.fullmatch(value):
        raise CourseError(f"{what} {value!r} is not a valid id: use letters, digits, '.', '_' and '-' "
                          f"(starting with a letter or digit)")
    return value


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Submission:
    """A verified archive: who, which unit, when (aware datetime), and the files' bytes."""

    student: str
    unit: str
    submitted_at: datetime
    course_version: str
    files: dict[str, bytes]


# --------------------------------------------------------------------------- writing (student side)

def write_archive(path: Path, student: str, unit: str, files: dict[str, bytes], course_version: str,
                  submitted_at: datetime) -> dict:
    """Write the archive for ``files`` (name -> bytes) to ``path`` atomically; return the manifest."""
    manifest = {"format": FORMAT, "student": student, "unit": unit, "course_version": course_version,
                "submitted_at": submitted_at.isoformat(),
                "files": [{"name": name, "sha256": sha256(data), "bytes": len(data)}
                          for name, data in sorted(files.items())]}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            stamp = submitted_at.timetuple()[:6]
            entries = [(MANIFEST_NAME, json.dumps(manifest, indent=1).encode())] + sorted(files.items())
            for name, data in entries:
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                archive.writestr(info, data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return manifest


# --------------------------------------------------------------------------- reading (instructor side)

def _check_entry(info: zipfile.ZipInfo) -> None:
    name = info.filename
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        raise ArchiveError(f"holds an absolute path {name!r}")
    if ".." in parts:
        raise ArchiveError(f"holds a path that leaves its folder: {name!r}")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ArchiveError(f"holds a symbolic link {name!r}")
    if info.is_dir() or len(parts) > 1:
        raise ArchiveError(f"holds a folder {name!r}; a submission holds only notebooks and {MANIFEST_NAME}")
    if info.flag_bits & 0x1:
        raise ArchiveError(f"{name!r} is encrypted")


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    """The entry's bytes, streamed: refused as soon as it inflates past its declared size or ``budget``."""
    cap = min(info.file_size, budget)
    chunks, size = [], 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > cap:
                    raise ArchiveError(f"{info.filename!r} inflates past {cap} bytes (zip bomb?)")
                chunks.append(chunk)
    except zipfile.BadZipFile as error:   # zipfile stops at the declared size, then the CRC fails
        raise ArchiveError(f"{info.filename!r} is corrupt or inflates past its declared {info.file_size} "
                           f"bytes ({error})") from None
    return b"".join(chunks)


def _parse_manifest(data: bytes, unit: str) -> dict:
    try:
        manifest = json.loads(data)
    except ValueError as error:
        raise ArchiveError(f"{MANIFEST_NAME} is not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(f"{MANIFEST_NAME} is not a dlcourse submission manifest (format {FORMAT!r})")
    try:
        check_id(manifest.get("student"), "the manifest's student")
        check_id(manifest.get("unit"), "the manifest's unit")
    except CourseError as error:
        raise ArchiveError(str(error)) from None
    if manifest["unit"] != unit:
        raise ArchiveError(f"is a submission of unit {manifest['unit']}, not {unit}")
    files = manifest.get("files")
    if not isinstance(files, list) or not files or not all(
            isinstance(f, dict) and isinstance(f.get("name"), str)
            and isinstance(f.get("sha256"), str) for f in files):
        raise ArchiveError(f"{MANIFEST_NAME} has no valid 'files' list (name and sha256 of each file)")
    if len({f["name"] for f in files}) != len(files):
        raise ArchiveError(f"{MANIFEST_NAME} names a file twice")
    try:
        submitted_at = parse_time(manifest.get("submitted_at"))
    except ValueError as error:
        raise ArchiveError(f"{MANIFEST_NAME}: {error}") from None
    manifest["submitted_at"] = submitted_at
    return manifest


def parse_time(value) -> datetime:
    """An ISO 8601 time with a UTC offset (``2025-03-01T10:15:02+01:00``), as an aware datetime."""
    from dateutil.parser import isoparse

    try:
        moment = isoparse(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"submitted_at {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"submitted_at {value!r} has no UTC offset")
    return moment


def read_archive(path: Path, unit: str, notebooks: set[str]) -> Submission:
    """Verify the archive at ``path`` as a submission of ``unit``, whose notebooks are
    ``notebooks`` (file names); return its contents. Writes nothing."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ArchiveError(f"is not a readable zip archive ({error})") from None
    with archive:
        try:
            return _read(archive, unit, notebooks)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError,
                RuntimeError) as error:   # a bad CRC, an unsupported compression, a truncated member
            raise ArchiveError(f"is corrupt ({error})") from None


def _read(archive: zipfile.ZipFile, unit: str, notebooks: set[str]) -> Submission:
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise ArchiveError(f"holds {len(infos)} entries; a submission holds a few notebooks")
    for info in infos:
        _check_entry(info)
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise ArchiveError("holds two entries with the same name")
    declared = sum(info.file_size for info in infos)
    if declared > MAX_UNCOMPRESSED_BYTES:
        raise ArchiveError(f"declares {declared} bytes uncompressed, more than the "
                           f"{MAX_UNCOMPRESSED_BYTES} allowed (zip bomb?)")
    by_name = {info.filename: info for info in infos}
    if MANIFEST_NAME not in by_name:
        raise ArchiveError(f"has no {MANIFEST_NAME} (make archives with `dlcourse submit`)")
    budget = MAX_UNCOMPRESSED_BYTES
    manifest_bytes = _read_capped(archive, by_name[MANIFEST_NAME], min(budget, MAX_MANIFEST_BYTES))
    budget -= len(manifest_bytes)
    manifest = _parse_manifest(manifest_bytes, unit)
    listed = {f["name"]: f["sha256"].lower() for f in manifest["files"]}
    for name in sorted(listed):
        if name not in notebooks:
            raise ArchiveError(f"holds {name!r}, which is not a notebook of {unit} "
                               f"(its notebooks: {', '.join(sorted(notebooks))})")
        if name not in by_name:
            raise ArchiveError(f"is missing {name!r}, which its {MANIFEST_NAME} lists")
    for name in names:
        if name != MANIFEST_NAME and name not in listed:
            raise ArchiveError(f"holds an unexpected file {name!r} that its {MANIFEST_NAME} does not list")
    files = {}
    for name in sorted(listed):
        data = _read_capped(archive, by_name[name], budget)
        budget -= len(data)
        if sha256(data) != listed[name]:
            raise ArchiveError(f"{name!r} was changed after the archive was made (SHA-256 differs from "
                               f"{MANIFEST_NAME})")
        files[name] = data
    return Submission(student=manifest["student"], unit=unit, submitted_at=manifest["submitted_at"],
                      course_version=str(manifest.get("course_version", "")), files=files)
