"""The project's own files: dependencies in sync, light imports, the two README commands."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import yaml
from packaging.requirements import Requirement

from tests.conftest import ROOT


def _normalise(requirement: str) -> tuple[str, str]:
    parsed = Requirement(requirement.replace(" ", ""))
    name = parsed.name.lower().replace("_", "-")
    extras = ",".join(sorted(parsed.extras))
    return (f"{name}[{extras}]" if extras else name), str(parsed.specifier)


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = dict(_normalise(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"])
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed = {}
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            listed.update(_normalise(r) for r in entry["pip"] if not r.startswith("-e"))
        elif not entry.split()[0] in ("python", "pip"):
            name, spec = _normalise(entry)
            listed[name] = spec
    assert listed == wanted


def test_import_course_lib_does_not_import_tensorflow():
    code = ("import sys, course_lib, course_lib.linear, course_lib.checks.linear, course_lib.data.hospital; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'nbgrader', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_readme_and_ci_use_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_make_creates_the_environment_and_kernels():
    dry_run = subprocess.run(["make", "-n", "-B", "setup"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "-m venv" in dry_run and "pip install" in dry_run and "dlcourse kernels" in dry_run
