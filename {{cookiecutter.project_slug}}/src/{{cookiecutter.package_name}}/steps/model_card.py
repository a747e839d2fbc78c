"""The model card: one Markdown page per registered version, written from the step records.

It states what the registry tags hold in a form a reviewer reads: the data, the holdout
metrics with their uncertainty, how the metric differs between groups of the sensitive
columns, what the model cannot do, and where it came from. It is rendered from the records
alone (no store calls), so the same inputs always give the same card.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import families, tasks
from .evaluate import Evaluation
from .prepare import PreparedData
from .train import TrainedModel

FILE_NAME = "model_card.md"


@dataclass(frozen=True)
class CardInputs:
    """What the card is written from: the step records and the registration's own facts."""

    model_name: str
    register_run_id: str
    train_run_id: str
    digest: str
    features: list[str]
    prepared: PreparedData
    trained: TrainedModel
    evaluation: Evaluation
    git_commit: str
    config_sha256: str


def _number(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.4f}"


def _data(inputs: CardInputs) -> list[str]:
    prepared = inputs.prepared
    shown = ", ".join(f"`{name}`" for name in inputs.features)
    if prepared.target_range is None:
        target = f"classes {', '.join(f'`{c}`' for c in prepared.classes)}"
    else:
        target = f"a number from {prepared.target_range[0]:g} to {prepared.target_range[1]:g}"
    return [
        "## Data",
        "",
        f"- Source: `{prepared.source}` (sha256 `{prepared.data_sha256}`)",
        f"- Rows: {prepared.n_train + prepared.n_test} ({prepared.n_train} training, "
        f"{prepared.n_test} holdout)",
        f"- Target: `{prepared.target}`, {target}",
        f"- Input columns ({len(inputs.features)}): {shown}",
    ]


def _metrics(inputs: CardInputs) -> list[str]:
    evaluation = inputs.evaluation
    champion = evaluation.champion_metrics
    lines = ["## Metrics (holdout)", ""]
    header = "| metric | this model |" + (" champion |" if champion else "")
    lines += [header, "| --- | --- |" + (" --- |" if champion else "")]
    for name, value in evaluation.metrics.items():
        better = "higher" if tasks.higher_is_better(name) else "lower"
        row = f"| {name} ({better} is better) | {_number(value)} |"
        lines.append(row + (f" {_number(champion.get(name))} |" if champion else ""))
    interval = evaluation.metric_interval
    if interval:
        lines += [
            "",
            f"{interval['metric']}: {_number(interval['value'])}, "
            f"{interval['confidence']:.0%} bootstrap interval "
            f"[{_number(interval['low'])}, {_number(interval['high'])}] "
            f"({interval['resamples']} resamples of the {interval['n']} holdout rows).",
        ]
    return lines


def _fairness(inputs: CardInputs) -> list[str]:
    report = inputs.evaluation.fairness
    lines = ["## Fairness (holdout)", ""]
    if report is None:
        return [
            *lines,
            "No sensitive features are configured (`evaluation.fairness.sensitive_features`): "
            "how the model behaves across groups was not assessed.",
        ]
    metric, rate = report["metric"], report["rate"]
    champion = inputs.evaluation.champion_fairness
    described = (
        "the mean prediction"
        if report["positive_class"] is None
        else f"the selection rate (share predicted `{report['positive_class']}`)"
    )
    label = rate.replace("_", " ")
    lines.append(
        f"Per group: {metric} and {described}. Difference: largest minus smallest group "
        "value; ratio: smallest over largest."
    )
    for column, part in report["columns"].items():
        lines += [
            "",
            f"### `{column}` ({part['grouping']})",
            "",
            f"| group | rows | {metric} | {label} |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {g['group']} | {g['rows']} | {_number(g[metric])} | {_number(g[rate])} |"
            for g in part["groups"]
        ]
        lines += [
            "",
            f"- Difference: {metric} {_number(part['difference'][metric])}, {label} "
            f"{_number(part['difference'][rate])}",
            f"- Ratio: {metric} {_number(part['ratio'][metric])}, {label} "
            f"{_number(part['ratio'][rate])}",
        ]
        if champion is not None:
            old = champion["columns"][column]["difference"][metric]
            lines.append(f"- Champion's {metric} difference on the same rows: {_number(old)}")
    return lines


def _family_limitation(family: str) -> str:
    if family.startswith("custom:"):
        return (
            f"Trained by the custom function `{family.removeprefix('custom:')}`: its "
            "limitations are for its author to state here."
        )
    known = families.FAMILIES.get(family)
    stated = known.limitations if known is not None and known.limitations else "none stated"
    return f"Model family `{family}`: {stated}"


def _limitations(inputs: CardInputs) -> list[str]:
    prepared = inputs.prepared
    fairness = (
        "Fairness was not assessed (no sensitive features configured)."
        if inputs.evaluation.fairness is None
        else "Fairness was assessed only for the configured columns, on the holdout, as "
        "differences of group metrics; small groups give noisy values, and equal metrics "
        "across groups do not prove a fair outcome."
    )
    return [
        "## Limitations",
        "",
        f"- Learned from `{prepared.source}` only: on data from another population, period or "
        "process its performance is unknown; drift monitoring watches for that after "
        "deployment.",
        f"- The metrics are estimates from {prepared.n_test} holdout rows; the interval above "
        "shows how uncertain the primary one is.",
        "- Predicted probabilities are the model's scores; this pipeline does not calibrate them.",
        "- It finds associations, not causes: it does not say what changing a column would do.",
        f"- {fairness}",
        f"- {_family_limitation(inputs.trained.family)}",
    ]


def _lineage(inputs: CardInputs) -> list[str]:
    evaluation = inputs.evaluation
    decision = evaluation.decision
    compared = (
        "none (no champion yet)"
        if decision.champion_version is None
        else f"v{decision.champion_version} (sha256 `{evaluation.champion_digest}`)"
    )
    outcome = "a candidate for champion" if decision.promote else "not a candidate"
    return [
        "## Lineage",
        "",
        f"- Registered from run `{inputs.register_run_id}`; trained in run `{inputs.train_run_id}`",
        f"- Model files sha256 `{inputs.digest}`",
        f"- Data `{inputs.prepared.source}`, sha256 `{inputs.prepared.data_sha256}`",
        f"- Code commit `{inputs.git_commit}`; settings fingerprint `{inputs.config_sha256}`",
        f"- Family `{inputs.trained.family}`, parameters `{inputs.trained.params}`",
        f"- Compared against champion: {compared}",
        f"- Gate decision: {outcome}; fairness condition: {decision.fairness}; reason: "
        f"{decision.reason}",
    ]


def render(inputs: CardInputs) -> str:
    """The card as Markdown."""
    kind = "classifier" if inputs.prepared.target_range is None else "regressor"
    sections = [
        [
            f"# Model card: {inputs.model_name}",
            "",
            f"A {inputs.trained.family} {kind} of `{inputs.prepared.target}`, registered "
            f"from run `{inputs.register_run_id}`.",
        ],
        _data(inputs),
        _metrics(inputs),
        _fairness(inputs),
        _limitations(inputs),
        _lineage(inputs),
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"
