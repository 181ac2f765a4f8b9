"""The Makefile's install: uv when it can be had, pip otherwise, and the stamps that say when to
install again. Real `make` runs in a copy of the Makefile, with a fake venv python and uv that
log their arguments, so nothing is downloaded."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent

FAKE_PYTHON = """#!/usr/bin/env bash
echo "python $*" >> "$FAKE_LOG"
if [ "$*" = "-m pip install --quiet uv" ]; then
  [ "$FAKE_UV" = unavailable ] && exit 1
  cp "$FAKE_UV_SOURCE" "$(dirname "$0")/uv"
  exit 0
fi
if [ "$1 $2 $3 $4" = "-m pip install -e" ]; then
  exit "${FAKE_PIP_RC:-0}"
fi
exit 0
"""

FAKE_UV = """#!/usr/bin/env bash
echo "uv $*" >> "$FAKE_LOG"
exit "${FAKE_UV_RC:-0}"
"""

LEAKY_VARIABLES = ("INSTALLER", "PYTHON", "PYTEST_ARGS", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@dataclass
class Checkout:
    root: Path
    log: Path
    env: dict[str, str]

    def make(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "--no-print-directory", *args],
            cwd=self.root,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    @property
    def stamp(self) -> Path:
        return self.root / ".venv" / ".installed-run"


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    """A copy of the Makefile and pyproject.toml; `with_venv` adds the fake venv python."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(ROOT / "Makefile", root / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    uv_source = tmp_path / "uv"
    _executable(uv_source, FAKE_UV)
    env = {k: v for k, v in os.environ.items() if k not in LEAKY_VARIABLES}
    log = tmp_path / "calls.log"
    env.update(FAKE_LOG=str(log), FAKE_UV_SOURCE=str(uv_source))
    return Checkout(root, log, env)


@pytest.fixture
def with_venv(checkout: Checkout) -> Checkout:
    bin_dir = checkout.root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    _executable(bin_dir / "python", FAKE_PYTHON)
    return checkout


def _pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def test_license_is_an_spdx_string() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    assert project["license"] == "MIT"


def test_build_uses_a_setuptools_that_reads_spdx_licenses() -> None:
    build = _pyproject()["build-system"]
    assert isinstance(build, dict)
    setuptools = [Requirement(r) for r in build["requires"] if r.startswith("setuptools")]
    assert len(setuptools) == 1
    assert setuptools[0].specifier.contains("77.0.0")
    assert not setuptools[0].specifier.contains("76.9")


def test_dry_run_installs_with_uv_and_falls_back_to_pip(checkout: Checkout) -> None:
    out = checkout.make("-n", ".venv/.installed-run")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "python3 -m venv .venv"
    assert 'echo "installing qws and its dependencies (first run only)..."' in lines
    install = next(line for line in lines if "uv pip install" in line)
    uv_part, pip_part = install.split(" || {", 1)
    assert ".venv/bin/python -m pip install --quiet uv" in uv_part
    assert uv_part.endswith(".venv/bin/uv pip install --python .venv/bin/python -e '.'")
    assert pip_part.rstrip("; }").endswith(".venv/bin/python -m pip install -e '.'")
    assert lines[-1] == "touch .venv/.installed-run"


def test_dry_run_with_pip_only_has_no_uv(checkout: Checkout) -> None:
    out = checkout.make("-n", "INSTALLER=pip", ".venv/.installed-test")
    assert out.returncode == 0, out.stderr
    assert "uv" not in out.stdout
    assert ".venv/bin/python -m pip install -e '.[test,dev]'" in out.stdout.splitlines()[-2]


def test_python_stays_overridable(checkout: Checkout) -> None:
    out = checkout.make("-n", "PYTHON=/opt/python3.12", "run")
    assert out.stdout.splitlines()[0] == "/opt/python3.12 -m venv .venv"


def test_unknown_installer_is_refused(checkout: Checkout) -> None:
    out = checkout.make("-n", "INSTALLER=conda", "run")
    assert out.returncode != 0
    assert "INSTALLER must be uv or pip, not 'conda'" in out.stderr


def test_installs_with_uv_when_pip_can_get_it(with_venv: Checkout) -> None:
    out = with_venv.make(".venv/.installed-run")
    assert out.returncode == 0, out.stderr
    assert with_venv.calls() == [
        "python -m pip install --quiet uv",
        "uv pip install --python .venv/bin/python -e .",
    ]
    assert with_venv.stamp.exists()


def test_uv_already_in_the_venv_is_not_installed_again(with_venv: Checkout) -> None:
    _executable(with_venv.root / ".venv" / "bin" / "uv", FAKE_UV)
    out = with_venv.make(".venv/.installed-test")
    assert out.returncode == 0, out.stderr
    assert with_venv.calls() == ["uv pip install --python .venv/bin/python -e .[test,dev]"]
    assert with_venv.stamp.exists()
    assert (with_venv.root / ".venv" / ".installed-test").exists()


def test_falls_back_to_pip_when_uv_cannot_be_had(with_venv: Checkout) -> None:
    out = with_venv.make(".venv/.installed-run", FAKE_UV="unavailable")
    assert out.returncode == 0, out.stderr
    assert with_venv.calls() == [
        "python -m pip install --quiet uv",
        "python -m pip install --quiet --upgrade pip",
        "python -m pip install -e .",
    ]
    assert "uv could not install qws: installing with pip" in out.stdout
    assert with_venv.stamp.exists()


def test_falls_back_to_pip_when_uv_fails(with_venv: Checkout) -> None:
    out = with_venv.make(".venv/.installed-run", FAKE_UV_RC="2")
    assert out.returncode == 0, out.stderr
    assert with_venv.calls()[-2:] == [
        "python -m pip install --quiet --upgrade pip",
        "python -m pip install -e .",
    ]
    assert "uv pip install --python .venv/bin/python -e ." in with_venv.calls()
    assert with_venv.stamp.exists()


def test_no_stamp_when_both_installers_fail(with_venv: Checkout) -> None:
    out = with_venv.make(".venv/.installed-run", FAKE_UV_RC="2", FAKE_PIP_RC="1")
    assert out.returncode != 0
    assert not with_venv.stamp.exists()


def test_installs_again_when_pyproject_changes(with_venv: Checkout) -> None:
    assert with_venv.make(".venv/.installed-run").returncode == 0
    assert with_venv.make("-q", ".venv/.installed-run").returncode == 0
    installed = with_venv.stamp.stat().st_mtime - 100
    os.utime(with_venv.stamp, (installed, installed))
    edited = installed + 50
    os.utime(with_venv.root / "pyproject.toml", (edited, edited))
    assert with_venv.make("-q", ".venv/.installed-run").returncode == 1
    assert with_venv.make(".venv/.installed-run").returncode == 0
    installs = [c for c in with_venv.calls() if c.startswith("uv pip install")]
    assert len(installs) == 2
    assert with_venv.make("-q", ".venv/.installed-run").returncode == 0
