"""Checks for unit 04: convolutional networks on biomedical images.

Every check builds fresh inputs from ``seed``, calls the student's function on copies,
and compares with :mod:`course_lib.conv` (float64; ``rtol=1e-5`` so float32 answers pass).
Visible grade cells call each check with its defaults; hidden tests call it with other
seeds and shapes. Array conventions are channels-last: x (N, H, W, C), W (K, K, C, F),
b (F,), activation maps (N, H_out, W_out, F).

The usual mistakes named in the messages: a flipped filter (true convolution instead of
the cross-correlation deep learning uses), an output size off by one, padding or stride
ignored, a forgotten bias, channels on the wrong axis, summing or averaging instead of
taking the maximum in pooling, and sending a pooling gradient to every pixel of a window.

Replay: the checks reach student code only through
:func:`~course_lib.checks.calling.call_student` and judge only the data it returned, so the
grader can re-run them outside the kernel (``TRUSTED_REPLAY``). Two parts need the live
answer and are measured in the kernel with :func:`~course_lib.checks.calling.observe`
instead, then judged outside: the timing that shows ``conv2d_forward`` is vectorised, and
the Keras CNN (its input shape, layer types and predictions on the check's images; the
accuracy is computed by the grader from those predictions).
"""


from __future__ import annotations

from .cnn import check_cnn_accuracy, check_param_counts  # noqa: F401
from .layers import (HAND_IMAGE, HAND_KERNEL, check_activation_maps, check_conv2d_backward,  # noqa: F401
                     check_conv2d_forward, check_conv_output_size, check_correlate2d, check_hand_result)
from .pooling import check_max_pool_backward, check_max_pool_forward  # noqa: F401

#: the grader may re-run these checks outside the kernel from recorded results
#: (:mod:`course_lib.grading.recheck`): they reach student code only through call_student and observe
TRUSTED_REPLAY = True
#: the references that answer this unit's exercises (the own-work rule, :mod:`.own_work`);
#: ``conv.FILTERS``, ``filter_bank`` and the parameter counters' helpers stay free to use
REFERENCES = ("course_lib.conv.conv_output_size", "course_lib.conv.conv2d_forward_naive", "course_lib.conv.conv2d_forward",
              "course_lib.conv.conv2d_backward", "course_lib.conv.max_pool_forward", "course_lib.conv.max_pool_backward",
              "course_lib.conv.correlate2d", "course_lib.conv.conv_num_params", "course_lib.conv.dense_num_params")
