"""Small biomedical images for unit 04: four real images and a seeded cell simulator.

Two kinds of image data, chosen after looking at what loads offline:

1. **Real images for the filter exercises** (:func:`load_image`). scikit-image's wheel
   carries a few real biomedical images that need no download (most of its other images,
   MedMNIST and ``keras.datasets`` fetch files at run time and fail offline). We copied
   four of them, cropped or shrunk, into one bundled file,
   ``course_lib/data/files/biomedical_images.npz`` (about 0.5 MB, checked by SHA-256
   through :func:`course_lib.data.bundled_path`), so the course does not depend on which
   scikit-image release is installed. :func:`build_bundle` is the exact recipe.

   ============== =============== ==================================================
   name           shape, uint8    what it is, source, licence
   ============== =============== ==================================================
   cell           (320, 320)      a cell floating in saline, quantitative phase image
                                  from digital holography, pixel 0.107 um (Müller et
                                  al., Optics Express 26(8), 2018); crop of
                                  ``skimage.data.cell()``; CC0
   microaneurysms (102, 102)      green channel of a retinal fundus photograph with
                                  vessels and microaneurysms, crop of image 07_dr of
                                  the High-Resolution Fundus (HRF) database
                                  (``skimage.data.microaneurysms()``); CC0 (Andreas
                                  Maier)
   ihc            (256, 256, 3)   colonic glands, immunohistochemistry (DAB, brown,
                                  for FHL2) with haematoxylin counterstain (blue),
                                  Center for Microscopy and Molecular Imaging; crop of
                                  ``skimage.data.immunohistochemistry()``; no known
                                  copyright restrictions
   retina         (352, 352, 3)   fundus photograph of a normal left eye (Wikimedia
                                  Commons), ``skimage.data.retina()`` shrunk 4 x by
                                  block means; CC0
   ============== =============== ==================================================

   Cutting many training patches from these few images would teach the wrong lesson:
   overlapping patches leak between a training and a validation set unless the split is
   made by region. They serve the filter exercises and plots only.

2. **Simulated cells for the classification exercise** (:func:`simulate_cells`,
   :func:`cell_classification_data`). Small grayscale images in the style of a nuclear
   stain (DAPI or Hoechst) seen by fluorescence microscopy, two classes:

   * ``0 = "interphase"``: a smooth oval nucleus, moderately bright, with a soft
     chromatin texture and one to three dim nucleoli;
   * ``1 = "mitotic"``: condensed chromosomes, brighter and more compact: a prophase
     cluster of bright granules, a metaphase plate (a ragged bright bar), or an anaphase
     pair of bars moving apart.

   Each image also has random position, size, orientation and brightness, sometimes parts
   of neighbouring interphase nuclei at its border, an uneven background, blur (the
   microscope's point-spread function) and noise. The brightness ranges of the two
   classes overlap, so no single pixel statistic separates them well; shape and texture
   do, which is what small convolutional filters pick up. Measured with 2,000 training and
   500 validation images of 32 x 32: a CNN with two conv blocks (70k parameters) reaches
   about 0.97 validation accuracy in 8 epochs (a few seconds on a CPU); a fully connected
   network with as many parameters about 0.87; logistic regression on whole-image
   brightness statistics about 0.85 (see ``tests/library/test_images_data.py`` and the unit 04
   notebook).

   These images are **simulated**: they were drawn by the code below from a seed; no real
   cell is in them, and the shapes are cartoons of the mitotic phases, not measurements.
   Licence: CC0 (our own simulation). The same seed always gives the same images.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import bundled_path

BUNDLE_FILE = "biomedical_images.npz"

#: name -> (description, source, licence) of each bundled real image
IMAGE_INFO: dict[str, tuple[str, str, str]] = {
    "cell": ("a cell floating in saline, quantitative phase image (digital holography), "
             "pixel 0.107 um",
             "skimage.data.cell(), crop rows 215:535, columns 230:550; Müller et al., "
             "Optics Express 26(8):10729 (2018)", "CC0"),
    "microaneurysms": ("green channel of a retinal fundus photograph: vessels and microaneurysms",
                       "skimage.data.microaneurysms(), from image 07_dr of the High-Resolution "
                       "Fundus (HRF) Image Database", "CC0 (Andreas Maier)"),
    "ihc": ("colonic glands: immunohistochemistry for FHL2 (DAB, brown) with haematoxylin "
            "counterstain (blue)",
            "skimage.data.immunohistochemistry(), crop rows 256:512, columns 192:448; Center for "
            "Microscopy and Molecular Imaging", "no known copyright restrictions"),
    "retina": ("colour fundus photograph of a normal left eye",
               "skimage.data.retina() (Wikimedia Commons), first 1408 x 1408 pixels shrunk 4x "
               "by block means", "CC0"),
}
IMAGE_NAMES = tuple(IMAGE_INFO)

CLASS_NAMES = ("interphase", "mitotic")


# --------------------------------------------------------------------------- real images

def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` (zip of ``.npy``) with fixed timestamps, so the same arrays give the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue(), compresslevel=9)
    return buffer.getvalue()


def bundle_arrays() -> dict[str, np.ndarray]:
    """The four images, cut from scikit-image's bundled sample data (needs scikit-image).

    Returns ``{name: uint8 array}`` with the shapes of the module docstring's table.
    """
    from skimage import data as skdata  # only needed to rebuild the bundle

    retina = skdata.retina()[:1408, :1408].astype(np.float64)
    retina = retina.reshape(352, 4, 352, 4, 3).mean(axis=(1, 3))
    return {
        "cell": skdata.cell()[215:535, 230:550],
        "microaneurysms": skdata.microaneurysms(),
        "ihc": skdata.immunohistochemistry()[256:512, 192:448],
        "retina": np.round(retina).astype(np.uint8),
    }


def build_bundle(path: str | Path) -> None:
    """Write ``biomedical_images.npz`` to ``path`` (the recipe of the bundled file).

    After rebuilding, update its line in ``course_lib/data/files/SHA256SUMS``.
    """
    Path(path).write_bytes(_npz_bytes(bundle_arrays()))


def load_image(name: str, as_float: bool = True) -> np.ndarray:
    """One bundled real image (SHA-256 checked, no network).

    Args:
        name: one of :data:`IMAGE_NAMES`: ``"cell"``, ``"microaneurysms"``, ``"ihc"``,
            ``"retina"``.
        as_float: if True (default), float64 in [0, 1]; if False, the stored uint8.

    Returns:
        image: shape (H, W) for the grayscale images (cell, microaneurysms) or
        (H, W, 3) RGB, channels last (ihc, retina).
    """
    if name not in IMAGE_INFO:
        raise KeyError(f"no bundled image {name!r}; choose one of {IMAGE_NAMES}")
    with np.load(bundled_path(BUNDLE_FILE), allow_pickle=False) as archive:
        image = archive[name]
    return image.astype(np.float64) / 255.0 if as_float else image


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) to luminance (H, W) with the ITU-R BT.709 weights; (H, W) passes through."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        return image
    return image[..., :3] @ np.array([0.2126, 0.7152, 0.0722])


# ----------------------------------------------------------------------- simulated cells

@dataclass(frozen=True)
class ImageData:
    """A labelled image dataset.

    Attributes:
        images: shape (N, H, W, C), float32 in [0, 1], channels last (C = 1 here).
        labels: shape (N,), int64 class indices.
        class_names: C names, ``class_names[label]``.
        description: where the data come from.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...] = CLASS_NAMES
    description: str = field(default="", repr=False)

    def __len__(self) -> int:
        return len(self.labels)


def _gaussian_kernel1d(sigma: float) -> np.ndarray:
    radius = max(1, int(np.ceil(3 * sigma)))
    t = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (t / sigma) ** 2)
    return kernel / kernel.sum()


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a (H, W) image, edges reflected."""
    kernel = _gaussian_kernel1d(sigma)
    radius = len(kernel) // 2
    padded = np.pad(image, radius, mode="reflect")
    rows = sum(w * padded[:, k:k + image.shape[1]] for k, w in enumerate(kernel))
    return sum(w * rows[k:k + image.shape[0], :] for k, w in enumerate(kernel))


def _ellipse(yy, xx, centre, axes, angle, softness=0.8):
    """Soft-edged filled ellipse on the grid, values in [0, 1]."""
    dy, dx = yy - centre[0], xx - centre[1]
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    radius = np.sqrt((u / axes[0]) ** 2 + (v / axes[1]) ** 2)
    edge = (1.0 - radius) * min(axes) / softness
    return 1.0 / (1.0 + np.exp(-np.clip(edge, -30, 30)))


def _blobs(yy, xx, centres, sigmas, amplitudes):
    """Sum of round Gaussian spots."""
    image = np.zeros_like(yy)
    for (cy, cx), sigma, amplitude in zip(centres, sigmas, amplitudes):
        image += amplitude * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2))
    return image


def _interphase(yy, xx, rng, centre, size):
    """An interphase nucleus: smooth oval, soft chromatin texture, dim nucleoli."""
    major = rng.uniform(0.20, 0.36) * size
    axes = (major, major * rng.uniform(0.65, 0.95))
    angle = rng.uniform(0, np.pi)
    shape = _ellipse(yy, xx, centre, axes, angle, softness=rng.uniform(0.8, 1.6))
    texture = 1.0 + rng.uniform(0.15, 0.4) * _blur(rng.normal(size=yy.shape), rng.uniform(1.0, 1.8)) / 0.2
    num_nucleoli = rng.integers(1, 4)
    spread = 0.45 * min(axes)
    nucleoli = _blobs(yy, xx,
                      centre + rng.uniform(-spread, spread, size=(num_nucleoli, 2)),
                      rng.uniform(0.8, 1.6, size=num_nucleoli),
                      rng.uniform(0.2, 0.45, size=num_nucleoli))
    brightness = rng.uniform(0.5, 0.75)
    return brightness * shape * np.clip(texture - nucleoli, 0.2, None)


def _line_of_granules(yy, xx, rng, centre, length, angle, count, jitter):
    along = np.linspace(-length / 2, length / 2, count) + rng.normal(0, 0.6, count)
    across = rng.normal(0, jitter, count)
    direction = np.array([np.sin(angle), np.cos(angle)])
    normal = np.array([np.cos(angle), -np.sin(angle)])
    centres = centre + along[:, None] * direction + across[:, None] * normal
    return _blobs(yy, xx, centres, rng.uniform(0.9, 1.5, count), rng.uniform(0.6, 1.0, count))


def _mitotic(yy, xx, rng, centre, size):
    """Condensed chromosomes: prophase granules, a metaphase plate, or anaphase bars."""
    phase = rng.choice(["prophase", "metaphase", "anaphase"])
    angle = rng.uniform(0, np.pi)
    if phase == "prophase":
        count = rng.integers(7, 14)
        radius = rng.uniform(0.14, 0.22) * size
        offsets = rng.normal(0, radius / 1.6, size=(count, 2))
        image = _blobs(yy, xx, centre + offsets, rng.uniform(0.8, 1.4, count), rng.uniform(0.5, 1.0, count))
        image += 0.25 * _ellipse(yy, xx, centre, (radius, radius * rng.uniform(0.8, 1.0)), angle)
    elif phase == "metaphase":
        length = rng.uniform(0.30, 0.50) * size
        image = _line_of_granules(yy, xx, rng, centre, length, angle, rng.integers(6, 11), jitter=0.9)
    else:
        length = rng.uniform(0.25, 0.42) * size
        gap = rng.uniform(0.12, 0.22) * size
        normal = np.array([np.cos(angle), -np.sin(angle)])
        image = sum(_line_of_granules(yy, xx, rng, centre + side * gap * normal, length, angle,
                                      rng.integers(5, 9), jitter=0.8) for side in (-1, 1))
    brightness = rng.uniform(0.8, 1.0)
    return brightness * image / max(image.max(), 1e-9)


def _one_cell(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    centre = size / 2 - 0.5 + rng.uniform(-0.15, 0.15, size=2) * size
    exposure = rng.uniform(0.45, 1.0)
    image = exposure * (_mitotic if label == 1 else _interphase)(yy, xx, rng, centre, size)
    # parts of neighbouring (interphase) nuclei at the border
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        angle = rng.uniform(0, 2 * np.pi)
        distance = rng.uniform(0.62, 0.8) * size
        neighbour = centre + distance * np.array([np.sin(angle), np.cos(angle)])
        image = np.maximum(image, exposure * _interphase(yy, xx, rng, neighbour, size))
    # uneven background, point-spread blur, shot and read noise
    gradient = rng.uniform(-0.03, 0.03, size=2)
    background = rng.uniform(0.02, 0.1) + gradient[0] * (yy / size - 0.5) + gradient[1] * (xx / size - 0.5)
    image = _blur(image + background, rng.uniform(0.5, 1.0))
    noise_level = rng.uniform(0.02, 0.06)
    image = image + noise_level * np.sqrt(np.clip(image, 0, None) + 0.05) * rng.normal(size=image.shape)
    return np.clip(image, 0.0, 1.0)


def simulate_cells(num_images: int = 1000, image_size: int = 32, seed: int = 0,
                   mitotic_fraction: float = 0.5) -> ImageData:
    """Simulated fluorescence images of single nuclei, interphase (0) or mitotic (1).

    See the module docstring for what is drawn. Deterministic: the same arguments give
    the same images on every machine with the same NumPy.

    Args:
        num_images: N.
        image_size: H = W in pixels (at least 16).
        seed: seed of the random generator.
        mitotic_fraction: expected share of label 1.

    Returns:
        :class:`ImageData` with ``images`` (N, H, W, 1) float32 in [0, 1] and
        ``labels`` (N,) int64.
    """
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16 pixels, got {image_size}")
    if not 0.0 <= mitotic_fraction <= 1.0:
        raise ValueError(f"mitotic_fraction must be in [0, 1], got {mitotic_fraction}")
    rng = np.random.default_rng(seed)
    labels = (rng.random(num_images) < mitotic_fraction).astype(np.int64)
    images = np.empty((num_images, image_size, image_size, 1), dtype=np.float32)
    for index, label in enumerate(labels):
        images[index, :, :, 0] = _one_cell(int(label), image_size, rng)
    return ImageData(images=images, labels=labels, class_names=CLASS_NAMES,
                     description="simulated nuclei (seeded); see course_lib.data.images")


def cell_classification_data(num_train: int = 2000, num_validation: int = 500,
                             image_size: int = 32, seed: int = 0) -> tuple[ImageData, ImageData]:
    """Training and validation sets of simulated cells, drawn independently.

    The two sets come from two different seeds derived from ``seed``, so no image (and no
    part of one) appears in both: nothing leaks from training into validation.

    Returns:
        ``(train, validation)``, each an :class:`ImageData` with images (N, H, W, 1).
    """
    train_seed, validation_seed = np.random.SeedSequence(seed).generate_state(2)
    return (simulate_cells(num_train, image_size, seed=int(train_seed)),
            simulate_cells(num_validation, image_size, seed=int(validation_seed)))
