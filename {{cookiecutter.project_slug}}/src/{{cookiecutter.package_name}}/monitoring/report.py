"""The drift report: one self-contained HTML page (no scripts, no network) with the verdict
on top and, per feature, the reference and current distributions side by side.

Charts are inline SVG bars drawn from the shares `drift.py` computed, so a report of
30 features renders in milliseconds and opens anywhere, MLflow's artifact viewer included.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from .drift import DriftResult, FeatureDrift

REFERENCE_COLOUR = "#8da0cb"
CURRENT_COLOUR = "#fc8d62"
CHART_WIDTH, CHART_HEIGHT = 360, 110

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#222;
max-width:1100px} h1{font-size:1.4rem;margin-bottom:.2rem} .meta{color:#666;font-size:.9rem}
.verdict{padding:1rem 1.2rem;border-radius:8px;margin:1rem 0;font-size:1.1rem}
.drift{background:#fdecea;border-left:6px solid #d93025}
.ok{background:#e6f4ea;border-left:6px solid #188038}
table{border-collapse:collapse;width:100%} td,th{padding:.45rem .6rem;border-bottom:1px solid #eee;
text-align:left;vertical-align:middle;font-size:.9rem} th{background:#fafafa}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:10px;font-size:.8rem;font-weight:600}
.yes{background:#d93025;color:#fff} .no{background:#e8eaed;color:#444}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem;
vertical-align:middle}
"""


def render(result: DriftResult, *, model: str, source: str) -> str:
    """The whole page as a string."""
    verdict_class = "drift" if result.drifted else "ok"
    rows = sorted(result.features, key=lambda f: (not f.drifted, -_finite(f.effect)))
    if result.prediction is not None:
        rows.insert(0, result.prediction)
    body = "\n".join(_row(feature) for feature in rows)
    thresholds = result.thresholds
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drift report: {escape(model)}</title>
<style>{STYLE}</style></head><body>
<h1>Drift report: {escape(model)}</h1>
<div class="meta">Current data: {escape(source)} ({result.n_current:,} rows) &middot; reference: the
champion's training sample ({result.n_reference:,} rows) &middot;
{datetime.now(UTC):%Y-%m-%d %H:%M} UTC</div>
<div class="verdict {verdict_class}"><strong>{
        "Drift detected" if result.drifted else "No drift"
    }</strong>:
{escape(result.summary())}</div>
<div class="meta">A feature drifts when its tests reject at a false discovery rate of {
        thresholds["p_value"]
    } across all features (Benjamini-Hochberg) and its distance
&ge; {thresholds["min_effect"]} (numeric: Kolmogorov-Smirnov test, Wasserstein distance / reference
std; categorical: chi-square test, Jensen-Shannon distance), or its missing share moves by
&ge; {thresholds["min_missing_change"]:.0%}, or non-finite values appear. The data set drifts
when &ge; {thresholds["drifted_share"]:.0%} of the features drift{
        ", when the predictions drift" if thresholds["include_predictions"] else ""
    }{
        ", or when any column's missing or non-finite share moves"
        if thresholds["quality_is_drift"]
        else ""
    }.</div>
<p class="legend"><span style="background:{REFERENCE_COLOUR}"></span>reference
<span style="background:{CURRENT_COLOUR}"></span>current</p>
<table><thead><tr><th>feature</th><th>drift</th><th>distribution</th><th>test</th>
<th>distance</th><th>missing (ref &rarr; cur)</th></tr></thead>
<tbody>
{body}
</tbody></table></body></html>
"""


def _row(feature: FeatureDrift) -> str:
    signals = escape(", ".join(feature.signals))
    badge = (
        f'<span class="badge yes">drift</span><br><small>{signals}</small>'
        if feature.drifted
        else '<span class="badge no">stable</span>'
    )
    return (
        f"<tr><td><strong>{escape(feature.name)}</strong><br><small>{feature.kind}</small></td>"
        f"<td>{badge}</td><td>{_chart(feature)}</td>"
        f"<td>{feature.test} = {feature.statistic:.4g}<br>"
        f"<small>p = {feature.p_value:.3g}</small></td>"
        f"<td>{feature.effect_name}<br>{feature.effect:.4g}</td>"
        f"<td>{feature.missing_reference:.1%} &rarr; {feature.missing_current:.1%}"
        f"{_non_finite(feature)}</td></tr>"
    )


def _non_finite(feature: FeatureDrift) -> str:
    if not (feature.non_finite_reference or feature.non_finite_current):
        return ""
    return (
        f"<br><small>non-finite {feature.non_finite_reference:.1%} &rarr; "
        f"{feature.non_finite_current:.1%}</small>"
    )


def _chart(feature: FeatureDrift) -> str:
    """Paired bars per bin or category: reference left, current right."""
    count = len(feature.labels)
    if not count:
        return "<small>no values</small>"
    top = max([*feature.reference_shares, *feature.current_shares, 1e-9])
    slot = CHART_WIDTH / count
    bar = max(slot / 2 - 1, 1)
    bars = []
    for index, (label, ref, cur) in enumerate(
        zip(feature.labels, feature.reference_shares, feature.current_shares, strict=True)
    ):
        x = index * slot
        for offset, share, colour in ((0, ref, REFERENCE_COLOUR), (bar, cur, CURRENT_COLOUR)):
            height = (CHART_HEIGHT - 14) * share / top
            bars.append(
                f'<rect x="{x + offset:.1f}" y="{CHART_HEIGHT - 14 - height:.1f}" '
                f'width="{bar:.1f}" height="{height:.1f}" fill="{colour}">'
                f"<title>{escape(label)}: reference {ref:.1%}, current {cur:.1%}</title></rect>"
            )
    first, last = escape(feature.labels[0]), escape(feature.labels[-1])
    axis = (
        f'<text x="0" y="{CHART_HEIGHT - 2}" font-size="10" fill="#666">{first}</text>'
        f'<text x="{CHART_WIDTH}" y="{CHART_HEIGHT - 2}" font-size="10" fill="#666" '
        f'text-anchor="end">{last}</text>'
    )
    return (
        f'<svg width="{CHART_WIDTH}" height="{CHART_HEIGHT}" role="img" '
        f'aria-label="{escape(feature.name)} distribution">{"".join(bars)}{axis}</svg>'
    )


def _finite(value: float) -> float:
    return value if value != float("inf") else 1e9
