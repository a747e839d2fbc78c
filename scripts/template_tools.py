"""Bake a project from this template and wire it to the template's shared environments.

Installing the ML + Azure + cdktf stack takes minutes, so baked projects reuse the template's
locked `.venv`, `.tools` and `node_modules` (the same lock files) instead of re-resolving.
Used by the demo, by the template tests and by developers iterating on the template.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
SHARED_ENVIRONMENTS = (".venv", ".tools", "node_modules")


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
        # Mark them up to date so the project's Makefile never reinstalls into the shared copies.
        (source / ".installed").touch(exist_ok=True)


def install_editable(project_dir: Path) -> None:
    """Install the baked package (no dependencies: they are in the shared lock) into the venv."""
    subprocess.run(
        [
            str(TEMPLATE_DIR / ".venv" / "bin" / "uv"),
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


def bake_and_install(output_dir: Path, **answers: str) -> Path:
    project = bake(output_dir, **answers)
    link_shared_environments(project)
    install_editable(project)
    return project


if __name__ == "__main__":
    # Developer shortcut: python scripts/template_tools.py OUTPUT_DIR [key=value ...]
    target = Path(sys.argv[1])
    overrides = dict(arg.split("=", 1) for arg in sys.argv[2:])
    print(bake_and_install(target, **overrides))
