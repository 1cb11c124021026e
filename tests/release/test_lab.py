"""``make lab`` starts JupyterLab on the course, prints the URL, and serves unit 01's notebook.

The test runs the README's command itself (with a fixed port and token, and no
browser), then asks the running server for the notebook, the page that opens it,
and the course's kernels, as JupyterLab's front end does.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest
import requests

from tests.conftest import ROOT, tool_env
from tests.release.conftest import free_port

pytestmark = pytest.mark.slow
NOTEBOOK = "notebooks/01_linear_regression/linear_regression.ipynb"


@pytest.fixture(scope="module")
def server():
    port, token = free_port(), "course-test-token"
    process = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"PORT={port}",
         f"LAB_ARGS=--no-browser --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token}"],
        cwd=ROOT, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    output, deadline = [], time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            output.append(line)
            if re.search(rf"http://127\.0\.0\.1:{port}/lab\S*token=", line):
                break
        else:
            pytest.fail("JupyterLab printed no URL within 120 s:\n" + "".join(output))
        assert process.poll() is None, "JupyterLab exited:\n" + "".join(output)
        for _ in range(60):      # the URL can appear a moment before requests are served
            try:
                requests.get(f"http://127.0.0.1:{port}/api/status", timeout=5,
                             headers={"Authorization": f"token {token}"}).raise_for_status()
                break
            except requests.RequestException:
                time.sleep(1)
        yield f"http://127.0.0.1:{port}", token, "".join(output)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def test_make_lab_prints_the_url_to_open(server):
    base, token, output = server
    assert f"{base}/lab" in output and "Open the http://127.0.0.1 URL" in output


def test_unit01_notebook_opens(server):
    base, token, _ = server
    headers = {"Authorization": f"token {token}"}
    content = requests.get(f"{base}/api/contents/{NOTEBOOK}", headers=headers, timeout=30)
    assert content.status_code == 200 and content.json()["type"] == "notebook"
    cells = content.json()["content"]["cells"]
    assert any("Unit 01" in cell["source"] for cell in cells)
    page = requests.get(f"{base}/lab/tree/{NOTEBOOK}", headers=headers, timeout=30)
    assert page.status_code == 200 and "JupyterLab" in page.text


def test_course_kernels_are_installed(server):
    base, token, _ = server
    specs = requests.get(f"{base}/api/kernelspecs", headers={"Authorization": f"token {token}"}, timeout=30).json()
    assert {"dlcourse-cpu", "dlcourse-gpu"} <= set(specs["kernelspecs"])


def test_the_course_kernel_starts(server):
    """Start the notebook's kernel through the server's API, as opening the notebook does."""
    base, token, _ = server
    headers = {"Authorization": f"token {token}"}
    kernel = requests.post(f"{base}/api/kernels", json={"name": "dlcourse-cpu"}, headers=headers, timeout=60)
    assert kernel.status_code == 201 and kernel.json()["name"] == "dlcourse-cpu"
    assert requests.delete(f"{base}/api/kernels/{kernel.json()['id']}", headers=headers, timeout=30).status_code == 204


def test_the_lab_asks_no_news_question(server):
    """JupyterLab's news pop-up is off by the course's own defaults (not the student's settings)."""
    base, token, _ = server
    settings = requests.get(f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification",
                            headers={"Authorization": f"token {token}"}, timeout=30)
    assert settings.status_code == 200
    properties = settings.json()["schema"]["properties"]
    assert properties["fetchNews"]["default"] == "false"
    assert properties["checkForUpdates"]["default"] is False


def test_a_fresh_clone_gets_the_sources_formgrader_lists(tmp_path):
    """build/source is git-ignored: `dlcourse lab` writes it, so Formgrader lists every unit (browser test finding)."""
    import shutil

    from course_lib.cli import write_missing_sources
    from course_lib.grading.config import units

    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    assert write_missing_sources(tmp_path)
    written = sorted(p.parent.name for p in (tmp_path / "build" / "source").glob("*/*.ipynb"))
    assert written == sorted(unit.name for unit in units(ROOT))
    assert not write_missing_sources(tmp_path)           # an existing build/source is left alone
