"""The exercise checks (course_lib.checks) against realistic wrong answers and correct variants."""
