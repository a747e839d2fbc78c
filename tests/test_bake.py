"""Bake the curated option matrix and check what comes out (cookiecutter-data-science style)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from answers import INVALID_ANSWERS, MATRIX
from conftest import DEFAULTS, TEMPLATE_DIR
from expected_files import expected_files

BIN = Path(sys.executable).parent
# `{{`, `{%` or `{#` left by Jinja; `${{ ... }}` (GitHub / Azure DevOps expressions) is fine.
UNRENDERED = re.compile(r"(?<!\$)\{\{|\{%|\{#")
CHOICES = {
    key: value
    for key, value in json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text()).items()
    if isinstance(value, list)
}


def project_files(project: Path) -> set[str]:
    return {
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module", params=list(MATRIX), ids=list(MATRIX))
def baked(request, cookies_session):
    requested = MATRIX[request.param]
    result = cookies_session.bake(extra_context=requested)
    assert result.exit_code == 0, f"bake failed: {result.exception!r}"
    project = Path(result.project_path)
    rendered = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    return project, requested, rendered


def test_exact_file_set(baked):
    project, _, rendered = baked
    assert project_files(project) == expected_files(rendered)


def test_no_unrendered_template_syntax(baked):
    project, _, _ = baked
    leftovers = []
    for relative in sorted(project_files(project)):
        try:
            text = (project / relative).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        leftovers += [
            f"{relative}:{number}: {line.strip()}"
            for number, line in enumerate(text.splitlines(), 1)
            if UNRENDERED.search(line)
        ]
    assert leftovers == []


def test_generated_python_is_ruff_clean(baked):
    project, _, _ = baked
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = subprocess.run(
            [str(BIN / "ruff"), *command], cwd=project, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_answers_reach_the_project(baked):
    project, requested, rendered = baked
    for option, value in {**DEFAULTS, **requested}.items():
        if "{{" not in value:  # derived defaults are checked below
            assert rendered[option] == value, option
    assert project.name == rendered["project_slug"]
    assert (project / "src" / rendered["package_name"] / "__init__.py").is_file()
    pyproject = (project / "pyproject.toml").read_text()
    assert f'name = "{rendered["project_slug"]}"' in pyproject
    assert f'requires-python = ">={rendered["python_version"]}"' in pyproject


@pytest.mark.parametrize(("option", "value", "expected"), INVALID_ANSWERS)
def test_invalid_answer_is_rejected_and_leaves_nothing(tmp_path, option, value, expected):
    output = tmp_path / "out"
    result = subprocess.run(
        [
            str(BIN / "cookiecutter"),
            "--no-input",
            "-o",
            str(output),
            str(TEMPLATE_DIR),
            f"{option}={value}",
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    if value not in CHOICES.get(option, [value]):  # cookiecutter refuses it before the hook
        assert f"{value} provided for choice variable {option}" in result.stderr
    else:
        assert f"ERROR: {option}={value!r} is invalid: " in result.stderr
        assert expected in result.stderr
    assert not output.exists() or list(output.iterdir()) == []


def test_every_option_has_a_plain_language_prompt():
    context = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
    options = {key for key in context if not key.startswith("_")}
    assert set(context["__prompts__"]) == options


FREE_TEXT = {
    "project_name": 'Café "Quotes" \\ Test',
    "description": 'Says "hi" \\ C:\\new\\x41 \\N{x} """ ≠ ✓ it\'s {fine}',
    "author_name": 'O\'Brien "Bob" \\ Ltd.',
}


def test_free_text_answers_bake_a_project_that_builds(bake, tmp_path):
    """Quotes, backslashes and non-ASCII in free text reach the metadata intact: TOML is
    escaped where they are rendered, and Python source holds none of them."""
    import tomllib

    project = bake(**FREE_TEXT)
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert metadata["description"] == FREE_TEXT["description"]
    assert metadata["authors"] == [{"name": FREE_TEXT["author_name"]}]
    assert (project / "README.md").read_text().startswith(f"# {FREE_TEXT['project_name']}\n")
    # Install it (dependencies aside: they are in the shared lock) into a scratch folder.
    target = tmp_path / "site"
    install = ["pip", "install", "--quiet", "--no-deps", "--python", sys.executable]
    result = subprocess.run(
        [str(BIN / "uv"), *install, "--target", str(target), str(project)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (metadata_file,) = target.glob("*.dist-info/METADATA")
    installed = metadata_file.read_text(encoding="utf-8")
    assert f"Summary: {FREE_TEXT['description']}\n" in installed
    assert FREE_TEXT["author_name"] in installed
    lint = subprocess.run(
        [str(BIN / "ruff"), "check", "--no-cache", "src"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
