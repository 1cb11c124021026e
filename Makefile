# Two commands do everything: `make lab` and `make test`. Both create .venv when it is
# missing, install the course into it, and install the course's Jupyter kernels.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
PORT   ?= 8888
LAB_ARGS ?=
PYTEST_ARGS ?=

.PHONY: lab test setup sandbox-tool build check-release benchmarks clean

setup: $(STAMP)

# Reinstall only when the dependencies change.
$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory sandbox-tool
	@$(MAKE) --no-print-directory browser-tool
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/dlcourse kernels
	@touch $(STAMP)

lab: $(STAMP)
	$(BIN)/dlcourse lab --port $(PORT) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

build: $(STAMP)
	$(BIN)/dlcourse build

check-release: $(STAMP)
	$(BIN)/dlcourse build --check

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/notebook_times.py

clean:
	rm -rf build autograded feedback grades grading-log.csv .pytest_cache

# Grading sandboxes student kernels with bubblewrap (Debian package `bubblewrap`). Installed
# here when we may (root with apt-get, as in CI); otherwise a note, and grading warns loudly.
sandbox-tool:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -q bubblewrap >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q bubblewrap >/dev/null 2>&1)) || \
	    echo "note: could not install bubblewrap; grading will run without a sandbox"; \
	  else echo "note: bubblewrap (bwrap) is not installed; instructors grading untrusted work should install it (sudo apt-get install bubblewrap)"; fi; }

# tests/release/test_browser.py drives Debian's Chromium (package `chromium`) with Playwright; Playwright's
# own browser download is not used. Installed here when we may, as for bubblewrap; otherwise a note,
# and the browser test fails until it is installed.
.PHONY: browser-tool
browser-tool:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -q chromium >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) || \
	    echo "note: could not install chromium; tests/release/test_browser.py will fail"; \
	  else echo "note: chromium is not installed; the browser test needs it (sudo apt-get install chromium)"; fi; }
