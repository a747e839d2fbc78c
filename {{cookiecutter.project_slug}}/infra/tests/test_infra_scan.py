"""checkov over every synthesized stack (private and public): 0 failed beyond reviewed skips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import scan

from .synthesis import PROJECT_DIR, Synthesis

CHECKOV = PROJECT_DIR / ".tools" / "bin" / "checkov"


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ["private", "public"])
def test_checkov_passes_with_only_reviewed_skips(synthesis: Synthesis, isolation: str) -> None:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make setup`")
    stacks_dir = synthesis.outdirs[isolation] / "stacks"
    reports = scan.evaluate(stacks_dir, scan.run_checkov(stacks_dir, CHECKOV), scan.load_skips())
    assert [r.stack for r in reports] == sorted(synthesis.settings.environments)
    for report in reports:
        print(
            f"checkov {isolation}/{report.stack}: {report.passed} passed, "
            f"{len(report.skipped)} skipped (reviewed), {len(report.failed)} failed"
        )
        assert report.isolation == isolation
        assert report.failed == [], report.failed
        assert report.stale == [], report.stale
        assert report.passed >= 30, "checkov evaluated suspiciously few checks"


# --- the skip logic itself, on a hand-made stack and report (no checkov run) ------------------


def _stack(tmp_path: Path, isolation: str, production: bool | None = None) -> Path:
    stack_dir = tmp_path / "stacks" / "dev"
    stack_dir.mkdir(parents=True)
    outputs = {"network_isolation": {"value": isolation}}
    if production is not None:
        outputs["production"] = {"value": production}
    stack = {
        "output": outputs,
        "resource": {
            "azurerm_key_vault": {
                "kv_ABC": {"//": {"metadata": {"path": "dev/dependencies/key-vault"}}}
            }
        },
    }
    (stack_dir / "cdk.tf.json").write_text(json.dumps(stack))
    return tmp_path / "stacks"


def _report(*check_ids: str) -> dict:
    return {
        "results": {
            "passed_checks": [],
            "failed_checks": [
                {
                    "check_id": check_id,
                    "check_name": "a check",
                    "resource": "resource.kv_ABC",
                    "file_path": "/dev/cdk.tf.json",
                }
                for check_id in check_ids
            ],
        }
    }


SKIP = scan.Skip("CKV_X", ("dependencies/key-vault",), ("public",), "reviewed reason")


def test_a_matching_skip_accepts_the_failure(tmp_path: Path) -> None:
    (report,) = scan.evaluate(_stack(tmp_path, "public"), _report("CKV_X"), [SKIP])
    assert report.ok and report.skipped == ["CKV_X dependencies/key-vault"]


def test_a_skip_does_not_apply_to_another_isolation_mode(tmp_path: Path) -> None:
    (report,) = scan.evaluate(_stack(tmp_path, "private"), _report("CKV_X"), [SKIP])
    assert not report.ok and report.failed


def test_an_unmatched_skip_is_stale(tmp_path: Path) -> None:
    (report,) = scan.evaluate(_stack(tmp_path, "public"), _report(), [SKIP])
    assert not report.ok and report.stale == ["CKV_X dependencies/key-vault"]


def test_a_skip_limited_by_outputs_applies_only_there(tmp_path: Path) -> None:
    skip = scan.Skip(
        "CKV_X", ("dependencies/key-vault",), ("public",), "why", {"production": (False,)}
    )
    (dev,) = scan.evaluate(_stack(tmp_path / "a", "public", False), _report("CKV_X"), [skip])
    assert dev.ok
    (prod,) = scan.evaluate(_stack(tmp_path / "b", "public", True), _report("CKV_X"), [skip])
    assert prod.failed and not prod.stale  # not applicable to production: neither used nor stale


@pytest.mark.slow
def test_checkov_passes_in_regions_without_zones_or_pair(synthesis: Synthesis) -> None:
    """The variant stacks (westus: no zones; italynorth: no pair; remote state; sandbox) pass
    with the same reviewed skips, which apply only where the region table says so."""
    stacks_dir = synthesis.outdirs["variant"] / "stacks"
    reports = scan.evaluate(stacks_dir, scan.run_checkov(stacks_dir, CHECKOV), scan.load_skips())
    by_stack = {r.stack: r for r in reports}
    for report in reports:
        assert report.failed == [] and report.stale == [], (report.stack, report.failed)
    assert "CKV_AZURE_233 dependencies/registry" in by_stack["nozones"].skipped
    assert "CKV_AZURE_206 dependencies/storage" in by_stack["nopair"].skipped
    assert not [
        s for s in by_stack["remote"].skipped if s.startswith(("CKV_AZURE_233", "CKV_AZURE_206"))
    ]


def test_every_reviewed_skip_has_a_reason_and_is_documented() -> None:
    skips = scan.load_skips()
    docs = (PROJECT_DIR / "docs" / "infrastructure.md").read_text(encoding="utf-8")
    for skip in skips:
        assert skip.reason.strip()
        assert skip.check in docs, f"{skip.check} is missing from docs/infrastructure.md"
