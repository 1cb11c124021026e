"""Running a submission's notebooks: limited, sandboxed kernels and the jupyter-client workarounds they need."""
