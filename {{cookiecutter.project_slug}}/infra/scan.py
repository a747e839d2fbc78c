"""Run checkov over every synthesized stack and apply the reviewed skips in checkov-skips.yaml.

checkov 3.3's terraform_json runner ignores inline skips, so this script is the skip mechanism:
a failure passes only when a reviewed entry names its check, its construct path (a glob), the
stack's network isolation and, if the entry has `when`, the stack's outputs (e.g. production).
Unskipped failures, stale entries and parse errors all fail the scan.
Runs offline: `make scan`, or `python infra/scan.py [--stacks DIR] [--checkov PATH]`.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

INFRA_DIR = Path(__file__).resolve().parent
DEFAULT_STACKS = INFRA_DIR / "cdktf.out" / "stacks"
DEFAULT_SKIPS = INFRA_DIR / "checkov-skips.yaml"
DEFAULT_CHECKOV = INFRA_DIR.parent / ".tools" / "bin" / "checkov"

# Offline and quiet: no policy download, no package scan, no failed phone-home noise.
CHECKOV_ENV = {
    "BC_SKIP_MAPPING": "TRUE",
    "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
    "CKV_IGNORE_HIDDEN_DIRECTORIES": "true",
    "LOG_LEVEL": "ERROR",
}


@dataclass(frozen=True)
class Skip:
    check: str
    resources: tuple[str, ...]
    isolation: tuple[str, ...]
    reason: str
    # Stack output name -> values for which the skip applies (e.g. {"production": (False,)}).
    when: dict[str, tuple] = field(default_factory=dict)

    def applies_to(self, report: StackReport) -> bool:
        return report.isolation in self.isolation and all(
            report.outputs.get(name) in values for name, values in self.when.items()
        )


@dataclass
class StackReport:
    stack: str
    isolation: str
    outputs: dict = field(default_factory=dict)  # output name -> literal value
    passed: int = 0
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.stale


def load_skips(path: Path = DEFAULT_SKIPS) -> list[Skip]:
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))["skips"]
    skips = []
    for entry in entries:
        if not str(entry.get("reason", "")).strip():
            raise ValueError(f"{path}: skip {entry.get('check')} has no reason")
        skips.append(
            Skip(
                check=entry["check"],
                resources=tuple(entry["resources"]),
                isolation=tuple(entry["isolation"]),
                reason=entry["reason"],
                when={name: tuple(values) for name, values in entry.get("when", {}).items()},
            )
        )
    return skips


def construct_paths(stack_file: Path) -> tuple[dict, dict[str, str]]:
    """The stack's outputs (name -> value) and a map from logical id to construct path (without
    the stack name)."""
    synthesized = json.loads(stack_file.read_text(encoding="utf-8"))
    outputs = {name: body["value"] for name, body in synthesized["output"].items()}
    paths = {}
    for blocks in synthesized.get("resource", {}).values():
        for logical_id, body in blocks.items():
            path = body["//"]["metadata"]["path"]
            paths[logical_id] = path.split("/", 1)[1]
    return outputs, paths


def run_checkov(stacks_dir: Path, checkov: Path) -> dict:
    result = subprocess.run(
        [
            str(checkov),
            "--directory",
            str(stacks_dir),
            "--framework",
            "terraform_json",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **CHECKOV_ENV},
        check=False,
    )
    # checkov exits 1 when checks fail; anything it could not parse is a hard error.
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise RuntimeError(f"checkov failed ({result.returncode}):\n{result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    if isinstance(report, list):  # one entry per framework; we ask for one framework only
        (report,) = report
    if report["summary"]["parsing_errors"]:
        raise RuntimeError(f"checkov could not parse: {report['results'].get('parsing_errors')}")
    return report


def evaluate(stacks_dir: Path, report: dict, skips: list[Skip]) -> list[StackReport]:
    """Split checkov's results per stack into passed, skipped-by-review, failed and stale."""
    stack_files = sorted(stacks_dir.glob("*/cdk.tf.json"))
    if not stack_files:
        raise FileNotFoundError(f"no synthesized stacks under {stacks_dir}: run `cdktf synth`")
    reports = {}
    construct_of = {}
    for stack_file in stack_files:
        stack = stack_file.parent.name
        outputs, paths = construct_paths(stack_file)
        reports[stack] = StackReport(
            stack=stack, isolation=outputs["network_isolation"], outputs=outputs
        )
        construct_of[stack] = paths

    def stack_of(result: dict) -> str:
        return Path(result["file_path"]).parent.name

    results = report.get("results", {})
    for result in results.get("passed_checks", []):
        reports[stack_of(result)].passed += 1
    used: set[tuple[str, int]] = set()
    for result in results.get("failed_checks", []):
        stack = stack_of(result)
        stack_report = reports[stack]
        logical_id = result["resource"].rsplit(".", 1)[-1]
        construct = construct_of[stack].get(logical_id, logical_id)
        label = f"{result['check_id']} {construct}"
        match = next(
            (
                index
                for index, skip in enumerate(skips)
                if skip.check == result["check_id"]
                and any(fnmatch.fnmatchcase(construct, pattern) for pattern in skip.resources)
                and skip.applies_to(stack_report)
            ),
            None,
        )
        if match is None:
            stack_report.failed.append(f"{label}: {result['check_name']}")
        else:
            stack_report.skipped.append(label)
            used.add((stack, match))
    for stack, stack_report in reports.items():
        for index, skip in enumerate(skips):
            if skip.applies_to(stack_report) and (stack, index) not in used:
                stack_report.stale.append(f"{skip.check} {', '.join(skip.resources)}")
    return list(reports.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=Path, default=DEFAULT_STACKS)
    parser.add_argument("--skips", type=Path, default=DEFAULT_SKIPS)
    parser.add_argument("--checkov", type=Path, default=DEFAULT_CHECKOV)
    args = parser.parse_args(argv)

    reports = evaluate(args.stacks, run_checkov(args.stacks, args.checkov), load_skips(args.skips))
    for stack in reports:
        print(
            f"{stack.stack} ({stack.isolation}): {stack.passed} passed, "
            f"{len(stack.failed)} failed, {len(stack.skipped)} skipped (reviewed), "
            f"{len(stack.stale)} stale skips"
        )
        for failure in stack.failed:
            print(f"  FAILED {failure}")
        for stale in stack.stale:
            print(f"  STALE SKIP {stale}: no longer fails here; remove it from the skips file")
    return 0 if all(stack.ok for stack in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
