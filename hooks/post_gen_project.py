"""Prune what the answers exclude, keep the task's sample data, and record the answers for
template updates.

`.cruft.json` uses cruft's format, so `cruft update` (or `cruft diff`) can pull later template
changes into a project baked with plain cookiecutter. Removal is idempotent: no combination of
answers can crash this hook.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

CI_FILES = {
    "github": [".github"],
    "azure-devops": ["azure-pipelines.yml", ".azure-pipelines"],
}
# Machine-specific keys cookiecutter adds to the context; they do not belong in the project.
MACHINE_KEYS = ("_output_dir", "_repo_dir", "_checkout")


def excluded_paths(answers: dict) -> list[str]:
    """Files belonging to the CI provider(s) the user did not choose."""
    chosen = answers["ci_provider"]
    if chosen == "both":
        return []
    return [path for provider, paths in CI_FILES.items() if provider != chosen for path in paths]


def remove_paths(project_dir: Path, paths: list[str]) -> None:
    for relative in paths:
        target = project_dir / relative
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)


def choose_sample_data(project_dir: Path, task: str) -> None:
    """Keep one data/sample.csv, the one for the task: the template ships the regression sample
    as data/sample_regression.csv beside the classification one."""
    data = project_dir / "data"
    regression = data / "sample_regression.csv"
    if not regression.exists():
        return  # already chosen
    if task == "regression":
        os.replace(regression, data / "sample.csv")
    else:
        regression.unlink()


def template_source(answers: dict) -> str:
    """Where `cruft update` should fetch the template: the URL, or the absolute local path."""
    template = answers.get("_template", "")
    is_remote = "://" in template or template.startswith(("git@", "gh:", "gl:", "bb:"))
    return template if is_remote else answers.get("_repo_dir", template)


def template_commit(repo_dir: str) -> str | None:
    """The template's git commit, when it was baked from a git checkout (cruft needs it)."""
    if not repo_dir or not Path(repo_dir).is_dir():
        return None
    result = subprocess.run(
        ["git", "-C", repo_dir, "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or None


def cruft_record(answers: dict) -> dict:
    source = template_source(answers)
    commit = answers.get("_commit") or template_commit(answers.get("_repo_dir", ""))
    context = {key: value for key, value in answers.items() if key not in MACHINE_KEYS}
    context.update(_template=source, _commit=commit)
    return {
        "template": source,
        "commit": commit,
        "checkout": answers.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": None,
    }


def record_answers(project_dir: Path, answers: dict) -> None:
    record = cruft_record(answers)
    (project_dir / ".cruft.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def main(raw_answers: str = r"""{{ cookiecutter | jsonify }}""") -> int:
    answers = json.loads(raw_answers)
    project_dir = Path.cwd()
    remove_paths(project_dir, excluded_paths(answers))
    choose_sample_data(project_dir, answers["task"])
    record_answers(project_dir, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
