"""course_lib.data.images: the bundled real images (checksums, provenance) and the seeded
cell simulator (determinism, shapes, and a task that needs more than brightness)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import course_lib.data as data
from course_lib.data import images


def test_bundle_is_listed_checksummed_and_small():
    assert images.BUNDLE_FILE in data.expected_checksums()
    path = data.bundled_path(images.BUNDLE_FILE)
    assert path.stat().st_size < 5 * 1024 * 1024


def test_a_damaged_bundle_is_refused(tmp_path, monkeypatch):
    shutil.copy(data.CHECKSUMS, tmp_path / "SHA256SUMS")
    damaged = bytearray(data.bundled_path(images.BUNDLE_FILE).read_bytes())
    damaged[-100] ^= 0xFF
    (tmp_path / images.BUNDLE_FILE).write_bytes(bytes(damaged))
    monkeypatch.setattr(data, "FILES_DIR", tmp_path)
    monkeypatch.setattr(data, "CHECKSUMS", tmp_path / "SHA256SUMS")
    with pytest.raises(data.DataIntegrityError, match="damaged"):
        images.load_image("cell")


@pytest.mark.parametrize("name, shape", [("cell", (320, 320)), ("microaneurysms", (102, 102)),
                                         ("ihc", (256, 256, 3)), ("retina", (352, 352, 3))])
def test_load_image(name, shape):
    image = images.load_image(name)
    assert image.shape == shape and image.dtype == np.float64
    assert 0.0 <= image.min() < image.max() <= 1.0
    raw = images.load_image(name, as_float=False)
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(image, raw / 255.0)
    assert name in images.IMAGE_INFO and all(images.IMAGE_INFO[name])
    assert images.to_grayscale(image).shape == shape[:2]


def test_unknown_image_name():
    with pytest.raises(KeyError, match="cell"):
        images.load_image("lena")


def test_bundle_is_exactly_the_documented_crops_of_scikit_image(tmp_path):
    """Provenance: rebuilding from scikit-image's own files gives the same bytes."""
    images.build_bundle(tmp_path / images.BUNDLE_FILE)
    assert data.sha256_of(tmp_path / images.BUNDLE_FILE) == data.expected_checksums()[images.BUNDLE_FILE]


def test_to_grayscale_weights():
    rgb = np.zeros((2, 2, 3))
    rgb[..., 1] = 1.0
    np.testing.assert_allclose(images.to_grayscale(rgb), 0.7152)
    assert images.to_grayscale(np.ones((3, 4))).shape == (3, 4)


def test_simulator_shapes_and_ranges():
    cells = images.simulate_cells(40, image_size=28, seed=3)
    assert cells.images.shape == (40, 28, 28, 1) and cells.images.dtype == np.float32
    assert cells.labels.shape == (40,) and cells.labels.dtype == np.int64
    assert set(np.unique(cells.labels)) == {0, 1}
    assert cells.images.min() >= 0.0 and cells.images.max() <= 1.0
    assert cells.class_names == ("interphase", "mitotic") and len(cells) == 40


def test_simulator_is_deterministic_and_seeded():
    first = images.simulate_cells(20, seed=5)
    again = images.simulate_cells(20, seed=5)
    other = images.simulate_cells(20, seed=6)
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.labels, again.labels)
    assert not np.allclose(first.images, other.images)


def test_simulator_fingerprint():
    """Changing the simulator changes every notebook's numbers: do it on purpose only."""
    cells = images.simulate_cells(5, seed=0)
    assert cells.labels.tolist() == [0, 1, 1, 1, 0]
    assert cells.images.astype(np.float64).mean() == pytest.approx(0.10112252492946965, rel=1e-5)


def test_simulator_arguments():
    assert images.simulate_cells(30, seed=0, mitotic_fraction=0.0).labels.sum() == 0
    assert images.simulate_cells(30, seed=0, mitotic_fraction=1.0).labels.sum() == 30
    with pytest.raises(ValueError):
        images.simulate_cells(3, image_size=8)
    with pytest.raises(ValueError):
        images.simulate_cells(3, mitotic_fraction=1.5)


def test_train_and_validation_are_independent_draws():
    train, validation = images.cell_classification_data(num_train=200, num_validation=100, seed=0)
    assert len(train) == 200 and len(validation) == 100
    assert 0.35 < train.labels.mean() < 0.65
    flat_train = train.images.reshape(len(train), -1)
    flat_validation = validation.images.reshape(len(validation), -1)
    distances = ((flat_validation[:, None, :] - flat_train[None, :, :]) ** 2).sum(-1)
    assert distances.min() > 1.0  # no validation image is a copy of a training image
    again, _ = images.cell_classification_data(num_train=200, num_validation=100, seed=0)
    np.testing.assert_array_equal(train.images, again.images)


def test_brightness_alone_does_not_solve_the_task():
    """Whole-image intensity statistics stay well below the CNN's >= 0.9 (a trained CNN is
    tested in tests/checks/test_convolution.py); shape and texture carry the class."""
    from sklearn.linear_model import LogisticRegression

    train, validation = images.cell_classification_data(num_train=800, num_validation=400, seed=1)

    def statistics(dataset):
        flat = dataset.images.reshape(len(dataset), -1).astype(np.float64)
        return np.column_stack([flat.mean(1), flat.max(1), flat.std(1), np.percentile(flat, 90, axis=1)])

    model = LogisticRegression(max_iter=2000).fit(statistics(train), train.labels)
    accuracy = model.score(statistics(validation), validation.labels)
    assert 0.6 < accuracy < 0.88
