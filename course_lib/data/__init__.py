"""Offline datasets for the course: bundled files checked by SHA-256, and seeded simulators.

Nothing here touches the network. Two kinds of data:

* **Bundled files** live in ``course_lib/data/files/`` and are listed with their
  SHA-256 in ``files/SHA256SUMS`` (``sha256sum`` format). :func:`bundled_path`
  verifies a file before handing it out, so a truncated or edited copy fails
  loudly instead of teaching from wrong numbers.
* **Simulators** (one module per dataset, e.g. :mod:`course_lib.data.hospital`)
  generate data from a seed with documented true parameters, so a notebook can
  compare what a model learned with the truth.

Each dataset's docstring says what it is, where it comes from and its licence.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

FILES_DIR = Path(__file__).with_name("files")
CHECKSUMS = FILES_DIR / "SHA256SUMS"


class DataIntegrityError(RuntimeError):
    """A bundled data file is missing, unlisted, or does not match its SHA-256."""


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def expected_checksums() -> dict[str, str]:
    """``{file name: hex SHA-256}`` as listed in ``files/SHA256SUMS``."""
    sums = {}
    for line in CHECKSUMS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*")] = digest
    return sums


def bundled_path(name: str) -> Path:
    """Path of the bundled file ``name`` after checking its SHA-256.

    Raises :class:`DataIntegrityError` when the file is not listed in
    ``SHA256SUMS``, is missing, or its content changed.
    """
    sums = expected_checksums()
    if name not in sums:
        raise DataIntegrityError(f"{name!r} is not a bundled data file; known: {sorted(sums)}")
    path = FILES_DIR / name
    if not path.is_file():
        raise DataIntegrityError(f"bundled data file {path} is missing: reinstall the course package")
    actual = sha256_of(path)
    if actual != sums[name]:
        raise DataIntegrityError(
            f"bundled data file {path} is damaged: SHA-256 {actual} != expected {sums[name]}. "
            "Restore it with `git checkout -- course_lib/data/files` or reinstall the course.")
    return path
