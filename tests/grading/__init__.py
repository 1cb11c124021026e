"""The grader (course_lib.grading): intake, sandboxed execution, re-check, class driver, reports."""
