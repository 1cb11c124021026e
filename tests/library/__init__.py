"""The reference library (course_lib.linear, layers, mlp, conv, ...) against independent oracles."""
