"""What the reference library's tests share: TensorFlow as an oracle."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def tf():
    """TensorFlow, quiet. A dependency: a broken install fails the tests that use it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow

    return tensorflow
