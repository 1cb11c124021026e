"""Offline data: bundled files are SHA-256 checked; simulators are seeded and documented."""

import shutil

import numpy as np
import pytest

import course_lib.data as data
from course_lib.data import hospital


def test_every_bundled_file_matches_its_checksum():
    sums = data.expected_checksums()
    assert sums, "SHA256SUMS lists no file"
    on_disk = {p.name for p in data.FILES_DIR.iterdir() if p.name != "SHA256SUMS"}
    assert on_disk == set(sums), "every bundled file must be listed in SHA256SUMS, and only those"
    for name in sums:
        assert data.sha256_of(data.bundled_path(name)) == sums[name]


def test_a_damaged_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "files"
    shutil.copytree(data.FILES_DIR, copy)
    target = copy / hospital.SAMPLE_FILE
    target.write_text(target.read_text().replace("7", "8", 1))
    monkeypatch.setattr(data, "FILES_DIR", copy)
    monkeypatch.setattr(data, "CHECKSUMS", copy / "SHA256SUMS")
    with pytest.raises(data.DataIntegrityError, match="damaged"):
        data.bundled_path(hospital.SAMPLE_FILE)
    with pytest.raises(data.DataIntegrityError, match="not a bundled"):
        data.bundled_path("no_such_file.csv")


def test_simulator_is_seeded_and_matches_its_documented_model():
    first = hospital.hospital_length_of_stay(5000, seed=3)
    again = hospital.hospital_length_of_stay(5000, seed=3)
    other = hospital.hospital_length_of_stay(5000, seed=4)
    assert np.array_equal(first.y, again.y) and not np.array_equal(first.y, other.y)
    assert first.X.shape == (5000, 6) and first.y.shape == (5000,)
    noise = first.y - first.true_bias - first.X @ first.true_weights
    assert abs(noise.std() - hospital.NOISE_STD) < 0.05 and abs(noise.mean()) < 0.06
    assert np.allclose(first.X.mean(axis=0), 0, atol=0.1) and np.allclose(first.X.std(axis=0), 1, atol=0.1)
    assert "simulated" in hospital.__doc__.lower() or "synthetic" in hospital.__doc__.lower()


def test_bundled_sample_is_the_frozen_simulator_output(tmp_path):
    fresh = tmp_path / "sample.csv"
    hospital.write_sample(fresh)
    assert fresh.read_bytes() == data.bundled_path(hospital.SAMPLE_FILE).read_bytes()
    sample = hospital.load_sample()
    assert sample.X.shape == (200, 6) and sample.feature_names == hospital.FEATURE_NAMES
