"""The course's tests. One folder per part of the code: library, checks, grading, release."""
