"""Deep Learning Fundamentals for biomedical data: the course's reference library.

``import course_lib`` imports NumPy only. TensorFlow is imported inside
:mod:`course_lib.tape` and :mod:`course_lib.models` (and inside the few functions
that need it), so the NumPy units start in about a second.

Array shapes use one vocabulary across the course: ``N`` examples, ``D`` input
features, ``H`` hidden units, ``C`` classes or channels, ``H, W`` image height and
width, ``K`` filter size. Gradients are named ``d<name>`` (``dW1``, ``db1``, ``dx``).
"""

__version__ = "0.1.0"
