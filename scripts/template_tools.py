"""Bake a project from this template and wire it to the template's shared environments.

Installing the ML + Azure + cdktf stack takes minutes, so baked projects reuse the template's
locked `.venv`, `.tools` and `node_modules` (the same lock files) instead of re-resolving.
Used by the demo, by the template tests and by developers iterating on the template.

Two ways to run a bake's own code from the shared `.venv`:
- `bake_and_install` re-points the venv's editable install at the bake: simple for a developer
  (`cd <bake> && .venv/bin/pytest`), but only one bake per package name can be live at a time.
- `bake_isolated` leaves the editable install alone and returns an environment whose
  PYTHONPATH puts the bake's `src/` first. Parallel test workers use it: any number of bakes,
  even with the same package name, run side by side without touching each other. The editable
  install is still made once per package name, for the console script (`.venv/bin/<package>`);
  which bake it points at does not matter, PYTHONPATH decides what gets imported.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
SHARED_ENVIRONMENTS = (".venv", ".tools", "node_modules")
# What the project's Makefile installs from (its `setup` prerequisites).
PROJECT_INSTALL_INPUTS = (
    "requirements.lock",
    "pyproject.toml",
    "requirements-tools.lock",
    "package-lock.json",
)
VENV = TEMPLATE_DIR / ".venv"


def bake(output_dir: Path, **answers: str) -> Path:
    """Bake a project non-interactively with `answers` overriding the defaults."""
    output_dir.mkdir(parents=True, exist_ok=True)
    project = cookiecutter(
        str(TEMPLATE_DIR),
        no_input=True,
        extra_context=answers,
        output_dir=str(output_dir),
        overwrite_if_exists=True,
    )
    return Path(project)


def link_shared_environments(project_dir: Path) -> None:
    """Point the baked project's environment folders at the template's installed ones."""
    for name in SHARED_ENVIRONMENTS:
        source = TEMPLATE_DIR / name
        if not source.exists():
            raise FileNotFoundError(f"{source} is missing: run `make setup` in the template first")
        link = project_dir / name
        if not link.exists():
            link.symlink_to(source, target_is_directory=True)
        stamp = source / ".installed"
        if not stamp.exists():
            stamp.touch()
    # The project's Makefile must see the shared installs as up to date, so that it never
    # reinstalls into them: date the baked project's install inputs back to before the oldest
    # stamp, rather than touching the stamps (that would hide a real lock change from the
    # template's own `make setup`).
    oldest = min(
        (TEMPLATE_DIR / name / ".installed").stat().st_mtime for name in SHARED_ENVIRONMENTS
    )
    for name in PROJECT_INSTALL_INPUTS:
        path = project_dir / name
        if path.exists():
            os.utime(path, (oldest - 1, oldest - 1))


@contextmanager
def venv_lock() -> Iterator[None]:
    """One install into the shared venv at a time, across processes (test workers, the demo)."""
    with (VENV / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def install_editable(project_dir: Path) -> None:
    """Install the baked package (no dependencies: they are in the shared lock) into the venv."""
    with venv_lock():
        _uv_install_editable(project_dir)


def ensure_console_script(project_dir: Path) -> None:
    """Install the package once per name, for `.venv/bin/<package>`; never re-point it."""
    with venv_lock():
        if not (VENV / "bin" / package_name(project_dir)).exists():
            _uv_install_editable(project_dir)


def _uv_install_editable(project_dir: Path) -> None:
    subprocess.run(
        [
            str(VENV / "bin" / "uv"),
            "pip",
            "install",
            "--quiet",
            "--python",
            sys.executable,
            "--no-deps",
            "-e",
            str(project_dir),
        ],
        check=True,
    )


def package_name(project_dir: Path) -> str:
    """The bake's import package: the one folder under src/."""
    (package,) = [p.name for p in (project_dir / "src").iterdir() if (p / "__init__.py").is_file()]
    return package


def isolated_environment(project_dir: Path) -> dict[str, str]:
    """The environment that runs this bake's own source, whatever the editable install says."""
    paths = [str(project_dir / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def bake_and_install(output_dir: Path, **answers: str) -> Path:
    project = bake(output_dir, **answers)
    link_shared_environments(project)
    install_editable(project)
    return project


def bake_isolated(output_dir: Path, **answers: str) -> tuple[Path, dict[str, str]]:
    """Bake and link, and return the environment to run the bake's commands with."""
    project = bake(output_dir, **answers)
    link_shared_environments(project)
    ensure_console_script(project)
    return project, isolated_environment(project)


if __name__ == "__main__":
    # Developer shortcut: python scripts/template_tools.py OUTPUT_DIR [key=value ...]
    target = Path(sys.argv[1])
    overrides = dict(arg.split("=", 1) for arg in sys.argv[2:])
    print(bake_and_install(target, **overrides))
