"""The configs ship inside the wheel, and an installed distillctl finds them from anywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # built from a fresh copy of the sources: a checkout's build/ folder keeps modules of
    # earlier builds, which would hide a package missing from pyproject's list
    source = tmp_path_factory.mktemp("source")
    for name in ("distillctl", "configs"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    (path,) = out.glob("distillctl-*.whl")
    return path


def test_the_wheel_holds_every_config_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        f"distillctl/configs/{p.relative_to(ROOT / 'configs')}"
        for p in (ROOT / "configs").rglob("*.yaml")
    }
    assert shipped and shipped <= names
    assert "distillctl/configs/data/digits.yaml" in names
    modules = {f"{p.relative_to(ROOT).as_posix()}" for p in (ROOT / "distillctl").rglob("*.py")}
    assert modules <= names, f"missing from the wheel: {sorted(modules - names)[:5]}"


def test_an_installed_distillctl_finds_its_configs_outside_the_checkout(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = (
        "import distillctl, sys; from distillctl.configuration.groups import config_dir; "
        "print(distillctl.__file__); print(config_dir()); "
        "from distillctl.cli import main; main(sys.argv[1:])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "train", "teacher", "--cfg", "job"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    module_file, configs, *_ = out.stdout.splitlines()
    assert module_file.startswith(str(target)) and configs.startswith(str(target))
    assert "stage: train_teacher" in out.stdout and "name: digits" in out.stdout


def _imports(path) -> set[str]:
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            found.add(node.module or "")
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_stages_import_neither_the_command_line_nor_each_other():
    """The CLI routes to stages; stages never reach back into it (errors.exit_with is the one
    way a user error ends the process, for both), and a stage shares code with another only
    through a module that is no stage (`run` and `explain` share report/build.py)."""
    from pathlib import Path

    import distillctl

    package = Path(distillctl.__file__).parent
    stages = {p.stem for p in (package / "stages").glob("*.py")} - {"__init__", "common"}
    for path in (package / "stages").glob("*.py"):
        imported = _imports(path)
        assert "distillctl.cli" not in imported, f"{path.name} imports distillctl.cli"
        others = {f"distillctl.stages.{s}" for s in stages - {path.stem}} & imported
        assert not others, f"{path.name} imports the stage(s) {sorted(others)}"
