"""Re-resolve every lock file, one resolve each (`make lock`).

The project lock comes from a baked project's pyproject.toml (the template's copy is Jinja), for
the oldest supported Python with universal markers so it serves every `python_version` choice.
The template's test environment is then resolved from that lock plus the test harness.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from template_tools import TEMPLATE_DIR, bake

PROJECT_TEMPLATE = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
UV = TEMPLATE_DIR / ".venv" / "bin" / "uv"
OLDEST_PYTHON = "3.11"


def compile_lock(source: Path, output: Path, *extra: str) -> None:
    """Compile from the source's folder so annotations name files relative to it."""
    command = [str(UV), "pip", "compile", source.name, "--universal", "--no-header", "--quiet"]
    command += ["--python-version", OLDEST_PYTHON, "-o", str(output), *extra]
    subprocess.run(command, cwd=source.parent, check=True)
    print(f"wrote {output.relative_to(TEMPLATE_DIR)}")


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        project = bake(Path(scratch))
        compile_lock(
            project / "pyproject.toml",
            PROJECT_TEMPLATE / "requirements.lock",
            "--all-extras",
            "--no-annotate",
        )
        # The Azure ML images' runtime: no extras, constrained to the pins just written.
        compile_lock(
            project / "pyproject.toml",
            PROJECT_TEMPLATE / "requirements-azureml.lock",
            "--no-annotate",
            "-c",
            str(PROJECT_TEMPLATE / "requirements.lock"),
        )
    compile_lock(
        PROJECT_TEMPLATE / "requirements-tools.in", PROJECT_TEMPLATE / "requirements-tools.lock"
    )
    compile_lock(
        TEMPLATE_DIR / "requirements-template.in",
        TEMPLATE_DIR / "requirements-template.lock",
        "--no-annotate",
    )
    subprocess.run(
        ["npm", "install", "--package-lock-only", "--no-audit", "--no-fund"],
        cwd=PROJECT_TEMPLATE,
        check=True,
    )


if __name__ == "__main__":
    main()
