"""The student's and the instructor's path through JupyterLab, in a real (headless) Chromium.

The test lays out a scratch clone of the course (a copy of the committed release and the
units' nbgrader sources, so that saving and validating never touch the repository), starts
the README's ``make lab`` there,
and drives Debian's Chromium with Playwright as a student would: open unit 01 from the file
browser, run all cells, read the first check's failure in the page, answer the first
exercise, move the step-size slider, press nbgrader's Validate button, open unit 04 on its
GPU kernel spec, and finally open Formgrader as the instructor.

Offline and bounded: the browser may reach only the local server, every wait has a
timeout, the whole test stays under :data:`BUDGET_S`, and the server and the browser are
stopped whatever happens. A screenshot of every step goes to ``--screenshots DIR`` (or to
a temporary folder named in the failure message). Chromium missing is a failure, not a skip.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright

from tests.conftest import BIN, NBGRADER_CONFIG, ROOT, tool_env
from course_lib.grading.build import write_sources
from course_lib.grading.config import units
from course_lib.grading.check import check
from tests.release.conftest import free_port

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")     # Debian's package; Playwright's own download is not used
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--window-size=1280,900"]
VIEWPORT = {"width": 1280, "height": 900}
BUDGET_S = 180                           # the whole test, scratch clone and server start included
UNIT01 = "notebooks/01_linear_regression/linear_regression.ipynb"
UNIT04 = "notebooks/04_convolution/convolution.ipynb"
FIRST_ANSWER = 'def predict(X, w, b):\n    """X (N, D), w (D,), b scalar -> (N,)."""\n    return np.dot(X, w) + b\n'


# ------------------------------------------------------------------ the server, in a scratch clone
def scratch_clone(folder: Path, course_units: list) -> Path:
    """A course folder that ``make lab`` treats as the repository: a copy of the committed
    student release (what students open), the nbgrader sources of ``course_units`` (what
    Formgrader lists), the Makefile, and links to this checkout's solutions, pyproject and
    virtual environment."""
    shutil.copytree(ROOT / "notebooks", folder / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for unit in course_units:
        write_sources(ROOT, unit, folder)
    (folder / "nbgrader_config.py").write_text(NBGRADER_CONFIG)
    shutil.copy(ROOT / "Makefile", folder / "Makefile")
    for name in ("solutions", "pyproject.toml"):
        (folder / name).symlink_to(ROOT / name)
    (folder / ".venv").symlink_to(BIN.parent)
    return folder


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """``make lab`` in a scratch clone of every unit of the course; yields (base URL, token,
    course folder, unit names, start time). Always stopped; its log is in ``lab.log`` beside
    the course folder (a pipe nobody reads would stall a talkative server)."""
    started = time.monotonic()
    course_units = units(ROOT)
    unit_names = [unit.name for unit in course_units]
    course = scratch_clone(tmp_path_factory.mktemp("browser-course"), course_units)
    settings = tmp_path_factory.mktemp("lab-user-settings")
    port, token = free_port(), "browser-test-token"
    env = {**tool_env(), "JUPYTERLAB_SETTINGS_DIR": str(settings / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(settings / "workspaces")}
    # -o: never reinstall from inside the scratch clone (that would repoint the editable install).
    log = settings / "lab.log"
    with open(log, "w") as sink:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "-o", ".venv/.installed", "lab", f"PORT={port}",
             f"LAB_ARGS=--no-browser --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token}"],
            cwd=course, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "make lab exited:\n" + log.read_text()
            assert time.monotonic() < deadline, "JupyterLab did not answer within 60 s:\n" + log.read_text()
            try:
                requests.get(f"{base}/api/status", headers={"Authorization": f"token {token}"},
                             timeout=5).raise_for_status()
                break
            except requests.RequestException:
                time.sleep(0.5)
        yield base, token, course, unit_names, started
    finally:                   # the server, its kernels and make: politely, then for sure
        for stop, grace_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, stop)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace_s)
                break


# ------------------------------------------------------------------ the browser
@pytest.fixture
def page(tmp_path):
    """A fresh headless Chromium page that may reach only 127.0.0.1. Always closed."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`make browser-tool` as root, "
                    "or `sudo apt-get install chromium`); the browser test needs it")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport=VIEWPORT, timeout=30_000)
        try:
            blocked: list[str] = []

            def local_only(route):
                if re.match(r"^(https?|wss?)://127\.0\.0\.1[:/]", route.request.url) or \
                        route.request.url.startswith(("data:", "blob:")):
                    route.continue_()
                else:
                    blocked.append(route.request.url)
                    route.abort()

            context.route("**/*", local_only)
            context.set_default_timeout(30_000)
            page = context.pages[0] if context.pages else context.new_page()
            page.blocked_requests = blocked
            yield page
        finally:
            context.close()


@pytest.fixture
def screenshots(request, tmp_path) -> Path:
    """Where the steps' screenshots go: ``--screenshots DIR`` or a temporary folder."""
    chosen = request.config.getoption("screenshots", default=None)
    folder = Path(chosen).resolve() if chosen else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Steps:
    """Run named steps; screenshot each one, and name the step and the folder when one fails."""

    def __init__(self, page: Page, folder: Path):
        self.page, self.folder, self.number, self.durations = page, folder, 0, {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        self.number += 1
        stem = f"{self.number:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}"
        started = time.monotonic()
        try:
            yield
        except Exception as error:
            with contextlib.suppress(Exception):
                self.page.screenshot(path=self.folder / f"{stem}-FAILED.png", timeout=10_000)
            raise AssertionError(f"step {self.number} ({name}) failed; screenshots of every step "
                                 f"so far are in {self.folder}\n{error}") from error
        self.page.screenshot(path=self.folder / f"{stem}.png", timeout=10_000)
        self.durations[name] = time.monotonic() - started


# ------------------------------------------------------------------ JupyterLab, as a person uses it
def dismiss_news_prompt(page: Page) -> None:
    """Answer "No" whenever JupyterLab asks about Jupyter news (if the course has not turned it off)."""
    prompt = page.locator(".jp-Notification-Toast, .Toastify__toast").filter(has_text="news")
    page.add_locator_handler(prompt, lambda toast: toast.get_by_role("button", name="No", exact=True).click())


def open_from_file_browser(page: Page, path: str) -> None:
    """Double-click each part of ``path`` in the file browser, starting at its current folder."""
    for part in path.split("/"):
        item = page.locator(".jp-DirListing-item").filter(
            has=page.locator(".jp-DirListing-itemText", has_text=re.compile(f"^{re.escape(part)}$")))
        item.dblclick()


def menu(page: Page, top: str, entry: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(entry)}$")).click()


def current_notebook(page: Page):
    """The notebook panel of the current tab."""
    return page.locator(".jp-NotebookPanel:visible")


def cell_index(path: Path, grade_id: str = "", holding: str = "") -> int:
    """The index of the cell of ``path`` with nbgrader ``grade_id``, or of the first code cell ``holding`` a text."""
    cells = nbformat.read(path, 4).cells
    return next(i for i, cell in enumerate(cells)
                if (grade_id and cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
                or (holding and cell.cell_type == "code" and holding in cell.source))


def wait_idle(panel, timeout_s: float) -> None:
    expect(panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle", timeout=timeout_s * 1000)


def scroll_to_text(box, needle: str) -> None:
    """Scroll ``box`` (or whichever of its ancestors scrolls) so the first line holding ``needle``
    sits in the middle: long tracebacks otherwise hide the message under the fold."""
    box.evaluate("""(box, needle) => {
        const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const at = node.textContent.indexOf(needle);
            if (at < 0) continue;
            const range = document.createRange();
            range.setStart(node, at);
            range.setEnd(node, at + needle.length);
            let view = node.parentElement;
            while (view && view.scrollHeight <= view.clientHeight) view = view.parentElement;
            if (!view) return;
            const line = range.getBoundingClientRect(), frame = view.getBoundingClientRect();
            view.scrollTop += line.top - frame.top - frame.height / 2;
            return;
        }
    }""", needle)


def wait_saved(page: Page, path: Path, text: str, timeout_s: float) -> None:
    """Wait until the notebook file at ``path`` holds ``text`` (JupyterLab saved it).

    Waits with the page's clock, not ``time.sleep``: the page's requests pass through this
    process's route handler, which runs only while Playwright is called."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(Exception):      # a write in progress reads as not saved yet
            if any(text in cell.source for cell in nbformat.read(path, 4).cells):
                return
        assert time.monotonic() < deadline, f"{path.name} was not saved within {timeout_s} s"
        page.wait_for_timeout(200)


def shown_line(output, needle: str) -> str:
    """The first line of ``output``'s visible text that holds ``needle``."""
    return next(line.strip() for line in output.inner_text().splitlines() if needle in line)


def flat(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------------ the test
def test_student_and_instructor_paths_in_chromium(lab, page, screenshots):
    base, token, course, unit_names, started = lab
    step, seen = Steps(page, screenshots), []     # seen: what the page showed, printed at the end
    dismiss_news_prompt(page)
    unit01 = course / UNIT01
    answer, first_check = cell_index(unit01, "predict_answer"), cell_index(unit01, "predict")

    with step("open unit 01 from the file browser"):
        page.goto(f"{base}/lab/tree/notebooks?token={token}", timeout=60_000)
        open_from_file_browser(page, UNIT01.removeprefix("notebooks/"))
        panel = current_notebook(page)
        expect(panel.locator(".jp-Toolbar-kernelName")).to_have_text("Python 3 (DL course, CPU)",
                                                                      timeout=30_000)
        expect(panel.locator(".jp-Cell").first).to_contain_text("Unit 01")
        wait_idle(panel, 60)
        seen.append(f"unit 01 open on kernel {panel.locator('.jp-Toolbar-kernelName').inner_text()!r}, idle")

    cells = panel.locator(".jp-Notebook .jp-Cell")
    with step("run all cells of the untouched release"):
        menu(page, "Run", "Run All Cells")
        output = cells.nth(first_check).locator(".jp-OutputArea")
        output.scroll_into_view_if_needed()
        expect(output).to_contain_text("`predict` is not written yet", timeout=60_000)
        expect(output).to_contain_text("replace `raise NotImplementedError()` with your code")
        wait_idle(panel, 30)
        output.scroll_into_view_if_needed()
        cells.nth(first_check).screenshot(path=screenshots / "check-failure.png")
        seen.append("run all stops at the first check: " + shown_line(output, "not written yet"))

    with step("answer the first exercise and run its check"):
        editor = cells.nth(answer).locator(".cm-content")
        editor.scroll_into_view_if_needed()
        editor.click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(FIRST_ANSWER)
        page.keyboard.press("Shift+Enter")      # runs the answer, selects its check
        page.keyboard.press("Shift+Enter")      # runs the check
        output = cells.nth(first_check).locator(".jp-OutputArea")
        expect(output).to_contain_text("\N{CHECK MARK}", timeout=30_000)
        expect(output).not_to_contain_text("not written yet")
        wait_idle(panel, 30)
        seen.append("answered, its check shows: " + shown_line(output, "\N{CHECK MARK}"))

    with step("move the step-size slider"):
        explorer = cells.nth(cell_index(unit01, holding="step_size_explorer(X, y)"))
        explorer.scroll_into_view_if_needed()
        explorer.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Control+Enter")
        plot = explorer.locator(".jp-OutputArea img")
        expect(plot).to_be_visible(timeout=30_000)
        before = plot.get_attribute("src")
        readout = explorer.locator(".widget-readout")
        start = float(readout.inner_text())
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(f"{start * 8:.3g}")
        page.keyboard.press("Enter")
        expect(readout).not_to_have_text(f"{start:.3g}", timeout=10_000)
        expect(plot).to_be_visible(timeout=30_000)
        expect(plot).not_to_have_attribute("src", before, timeout=30_000)
        explorer.scroll_into_view_if_needed()
        seen.append(f"slider moved from {start:.3g} to {readout.inner_text()}: the plot was redrawn")

    with step("validate with nbgrader's button"):
        panel.locator(".validate-button").click()
        wait_saved(page, unit01, FIRST_ANSWER.splitlines()[-1].strip(), timeout_s=30)   # Validate saves first
        with ThreadPoolExecutor(1) as pool:      # `dlcourse check` on that file, meanwhile
            checked = pool.submit(check, unit01)
            dialog = page.locator(".jp-Dialog")
            expect(dialog.locator(".jp-Dialog-header")).to_have_text("Validation Results", timeout=120_000)
            results = checked.result(timeout=120)
        shown = flat(dialog.locator(".jp-Dialog-body").inner_text())
        scroll_to_text(dialog.locator(".jp-Dialog-body"), "is not written yet")
        dialog.locator(".jp-Dialog-content").screenshot(path=screenshots / "validate-result.png")
        failing = [r for r in results if not r.passed]
        assert [r.grade_id for r in results if r.passed] == ["predict"], results
        missing = [r.grade_id for r in failing
                   if r.grade_id not in shown or flat(r.message.split(": ", 1)[-1]) not in shown]
        assert not missing, f"the Validate dialog does not report {missing} as `dlcourse check` does:\n{shown}"
        assert "`predict` is not written yet" not in shown
        dialog.get_by_role("button", name="Ok").click()
        seen.append(f"Validate reports {len(failing)} failing exercises, as dlcourse check does: "
                    + ", ".join(r.grade_id for r in failing))

    with step("open unit 04 on the GPU kernel spec"):
        menu(page, "Kernel", "Shut Down All Kernels…")
        with contextlib.suppress(Exception):   # JupyterLab asks to confirm
            page.locator(".jp-Dialog").get_by_role("button", name="Shut Down All").click(timeout=5_000)
        page.locator(".jp-BreadCrumbs-item", has_text=re.compile("^notebooks$")).click()
        open_from_file_browser(page, UNIT04.removeprefix("notebooks/"))
        panel = current_notebook(page)
        expect(panel.locator(".jp-Toolbar-kernelName")).to_have_text("Python 3 (DL course, GPU)",
                                                                      timeout=30_000)
        wait_idle(panel, 60)
        setup = panel.locator(".jp-Notebook .jp-Cell").nth(cell_index(course / UNIT04, "setup"))
        setup.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Control+Enter")
        device = "CPU" if not Path("/dev/nvidiactl").exists() else ""
        expect(setup.locator(".jp-OutputArea")).to_contain_text(f"TensorFlow will use: {device}",
                                                                timeout=90_000)
        seen.append(f"unit 04 open on kernel {panel.locator('.jp-Toolbar-kernelName').inner_text()!r}; "
                    + shown_line(setup.locator(".jp-OutputArea"), "TensorFlow will use"))

    with step("open Formgrader as the instructor"):
        menu(page, "Nbgrader", "Formgrader")
        frame = page.frame_locator("#formgrader-iframe iframe")
        names, expected = frame.locator("td.name"), sorted(unit_names)
        names.first.scroll_into_view_if_needed(timeout=30_000)
        expect(names).to_have_count(len(expected), timeout=10_000)
        assert sorted(flat(n) for n in names.all_inner_texts()) == expected
        seen.append(f"Formgrader lists {len(expected)} assignments: {', '.join(expected)}")

    assert not page.blocked_requests, f"the page asked for addresses outside this machine: {page.blocked_requests}"
    print("\n".join(seen + [f"{name}: {seconds:.1f} s" for name, seconds in step.durations.items()]))
    assert time.monotonic() - started < BUDGET_S, f"over the {BUDGET_S} s budget: {step.durations}"
