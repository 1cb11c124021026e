"""The student release: build, notebooks end to end, packaging, JupyterLab and the browser."""
