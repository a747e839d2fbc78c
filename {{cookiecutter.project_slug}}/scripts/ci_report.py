"""Turn the JSON the deployment commands write into CI outputs and a readable job summary.

The workflows (GitHub Actions and Azure DevOps) call this between the project's own commands, so
the decisions they take (deploy or stop, which version, where) live in tested Python, not in
shell snippets. Three sub-commands:

- `workspace OUTPUTS --environment ENV`: the Azure ML coordinates from the stack outputs that
  `make deploy-infra` / `make infra-outputs` wrote (`AZURE_RESOURCE_GROUP`, `AZURE_ML_WORKSPACE`).
- `gate SUMMARY`: read `azure submit --summary`: promoted or not, model, exact version, digest.
  A challenger that lost is a green outcome with nothing to deploy; a failed job is an error.
- `deployed SUMMARY --environment ENV --version V [--digest D]`: check that `azure deploy` put
  exactly the version (and digest) the gate promoted in that environment, and report it.

Outputs go to `$GITHUB_OUTPUT` / `$GITHUB_STEP_SUMMARY` on GitHub, to `##vso` logging commands on
Azure DevOps (`TF_BUILD` set), and to stdout anywhere else. Exit codes: 0 done, 1 refused.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

SUBMIT_KEYS = ("job", "status", "promoted", "model_name", "version", "digest", "reason")
# Azure ML's terminal status of a job that ran to the end (the gate may still keep the champion).
SUCCEEDED = {"completed", "succeeded"}
SUMMARY_DIR = Path(".ci-out")
# What a registered version and a `model.sha256` digest look like. Anything else is refused
# before it reaches a later command line (Azure DevOps expands `$(gate.version)` in scripts).
VERSION_PATTERN = re.compile(r"[0-9]+")
DIGEST_PATTERN = re.compile(r"[0-9a-f]{64}")


class ReportError(Exception):
    """A summary that cannot be trusted: the message names the file and what is wrong."""


def read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise ReportError(f"{path}: no {what} was written (did the previous step fail?)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ReportError(f"{path}: the {what} is not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise ReportError(f"{path}: the {what} must be a JSON object")
    return data


def stack_outputs(outputs: Mapping, environment: str) -> Mapping:
    """The stack's outputs in a `cdktf deploy|output --outputs-file` file.

    cdktf nests outputs by stack name, then by construct path; the stack's own outputs sit one
    level down under the stack's id (here also the environment name).
    """
    if environment not in outputs:
        raise ReportError(
            f"no outputs for environment {environment!r} (found: {', '.join(outputs) or 'none'})"
        )
    stack = outputs[environment]
    while isinstance(stack, Mapping) and "workspace_name" not in stack and len(stack) == 1:
        (inner,) = stack.values()
        if not isinstance(inner, Mapping):
            break
        stack = inner
    if not isinstance(stack, Mapping):
        raise ReportError(f"the outputs of environment {environment!r} are not an object")
    return stack


def workspace_coordinates(outputs: Mapping, environment: str) -> dict[str, str]:
    stack = stack_outputs(outputs, environment)
    missing = [key for key in ("resource_group_name", "workspace_name") if not stack.get(key)]
    if missing:
        raise ReportError(f"stack {environment!r} has no output {', '.join(missing)}")
    return {
        "AZURE_RESOURCE_GROUP": str(stack["resource_group_name"]),
        "AZURE_ML_WORKSPACE": str(stack["workspace_name"]),
    }


def gate_outcome(summary: Mapping) -> tuple[dict[str, str], str, bool]:
    """(outputs, markdown, succeeded) for a training summary.

    A job that failed, was cancelled or timed out is reported (the summary says why) and is
    not a success, even though nothing is promoted: CI must go red, not quietly skip deploys.
    """
    missing = [key for key in SUBMIT_KEYS if key not in summary]
    if missing:
        raise ReportError(f"the training summary lacks {', '.join(missing)}")
    promoted = summary["promoted"] is True
    job, status, reason = summary["job"], summary["status"], summary["reason"] or "none given"
    succeeded = str(status).lower() in SUCCEEDED
    if promoted and not (summary["version"] and summary["digest"]):
        raise ReportError(
            f"job {job} promoted a model but the summary has no version or digest: "
            "refusing to deploy something that cannot be identified exactly"
        )
    if promoted and not (
        VERSION_PATTERN.fullmatch(str(summary["version"]))
        and DIGEST_PATTERN.fullmatch(str(summary["digest"]))
    ):
        raise ReportError(
            f"job {job} promoted version {str(summary['version'])[:20]!r} with digest "
            f"{str(summary['digest'])[:20]!r}: expected a version number and a sha256 hex digest"
        )
    outputs = {
        "promoted": "true" if promoted else "false",
        "job": str(job),
        "model_name": str(summary["model_name"] or ""),
        "version": str(summary["version"] or "") if promoted else "",
        "digest": str(summary["digest"] or "") if promoted else "",
    }
    if not succeeded:
        decision = f"**Training did not succeed** (status `{status}`): nothing is deployed."
    elif promoted:
        decision = (
            f"**Promoted** `{summary['model_name']}` version `{summary['version']}` "
            f"(digest `{summary['digest']}`): it is deployed next."
        )
    else:
        decision = "**Champion kept**: nothing to deploy, the live deployment is unchanged."
    markdown = "\n".join(
        [
            "## Training and gate",
            "",
            f"- Azure ML job: `{job}` ({status})",
            f"- Decision: {decision}",
            f"- Reason: {reason}",
            "",
        ]
    )
    if not succeeded:
        outputs.update(promoted="false", version="", digest="")
    return outputs, markdown, succeeded


def deployment_check(
    summary: Mapping, environment: str, version: str, digest: str | None
) -> tuple[dict[str, str], str]:
    """(outputs, markdown) when the deployment serves exactly the expected model."""
    deployed = str(summary.get("version", ""))
    if deployed != version:
        raise ReportError(
            f"{environment}: expected version {version} to be deployed, the deploy summary says "
            f"{deployed or 'nothing'}"
        )
    deployed_digest = summary.get("digest")
    if digest and deployed_digest and deployed_digest != digest:
        raise ReportError(
            f"{environment}: version {version} has digest {deployed_digest}, but the gate "
            f"promoted {digest}: not the same model"
        )
    details = [
        f"- {key.replace('_', ' ')}: `{summary[key]}`"
        for key in ("model_name", "endpoint", "deployment", "digest")
        if summary.get(key)
    ]
    markdown = "\n".join(
        [f"## Deployed to {environment}", "", f"- version: `{version}`", *details, ""]
    )
    return {"version": version, "digest": str(deployed_digest or digest or "")}, markdown


def emit(
    outputs: Mapping[str, str], markdown: str, page: str, env: Mapping[str, str] = os.environ
) -> None:
    """Publish outputs and the job summary the way the running CI system reads them."""
    for name, value in outputs.items():
        if "\n" in value:
            raise ReportError(f"output {name} must be one line")
    if env.get("GITHUB_OUTPUT"):
        with open(env["GITHUB_OUTPUT"], "a", encoding="utf-8") as handle:
            handle.writelines(f"{name}={value}\n" for name, value in outputs.items())
    elif env.get("TF_BUILD"):
        for name, value in outputs.items():
            # isOutput: later stages read it; a plain copy: later steps of this job read it.
            print(f"##vso[task.setvariable variable={name};isOutput=true]{value}")
            print(f"##vso[task.setvariable variable={name}]{value}")
    else:
        for name, value in outputs.items():
            print(f"{name}={value}")
    if env.get("GITHUB_STEP_SUMMARY"):
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    elif env.get("TF_BUILD"):
        SUMMARY_DIR.mkdir(exist_ok=True)
        path = (SUMMARY_DIR / f"summary-{page}.md").resolve()
        path.write_text(markdown + "\n", encoding="utf-8")
        print(f"##vso[task.uploadsummary]{path}")
    print(markdown)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    workspace = commands.add_parser("workspace", help="Azure ML coordinates from stack outputs")
    workspace.add_argument("outputs", type=Path)
    workspace.add_argument("--environment", required=True)
    gate = commands.add_parser("gate", help="read `azure submit --summary`")
    gate.add_argument("summary", type=Path)
    deployed = commands.add_parser("deployed", help="check `azure deploy --summary`")
    deployed.add_argument("summary", type=Path)
    deployed.add_argument("--environment", required=True)
    deployed.add_argument("--version", required=True)
    deployed.add_argument("--digest", default=None)
    args = parser.parse_args(argv)

    try:
        if args.command == "workspace":
            outputs = read_json(args.outputs, "infrastructure outputs file")
            coordinates = workspace_coordinates(outputs, args.environment)
            lines = [f"- {name}: `{value}`" for name, value in coordinates.items()]
            markdown = "\n".join([f"## Workspace ({args.environment})", "", *lines, ""])
            emit(coordinates, markdown, f"workspace-{args.environment}")
        elif args.command == "gate":
            summary = read_json(args.summary, "training summary")
            outputs, markdown, succeeded = gate_outcome(summary)
            emit(outputs, markdown, "gate")
            if not succeeded:
                print(f"error: training job {summary['job']} did not succeed", file=sys.stderr)
                return 1
        else:
            if not args.version.strip():
                raise ReportError("--version is empty: the upstream stage promoted nothing")
            summary = read_json(args.summary, "deployment summary")
            outputs, markdown = deployment_check(
                summary, args.environment, args.version, args.digest
            )
            emit(outputs, markdown, f"deploy-{args.environment}")
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
