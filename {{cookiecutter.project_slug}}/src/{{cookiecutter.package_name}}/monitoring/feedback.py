"""Outcomes fed back for logged requests, and the labelled production data they make.

The server returns every request's id (the `x-request-id` response header; the inference log's
`_correlation_id`). `monitor feedback --labels FILE` matches each outcome in FILE to the logged
row it belongs to, by `request_id` and `row` (the row's position in its request; 0 when
omitted) and keeps the matched ones under `monitoring.quality.feedback_path` as Parquet.
`labelled_rows` joins them back with the inference log: the inputs as they were scored, the
version that scored them, and what really happened. A later outcome for the same row replaces
an earlier one. `training_data` turns labelled rows into a training set by the configured
policy (`monitoring.quality.retrain_data`: append to the configured data, or replace it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from ..config import Settings
from ..data import load_table
from ..errors import PipelineError
from .inference_log import (
    CORRELATION_ID,
    META_COLUMNS,
    ROW,
    read_window,
    write_durably,
)

REQUEST_ID = "request_id"
ROW_COLUMN = "row"
FED_AT = "_fed_at"


class FeedbackError(PipelineError):
    """Outcomes that cannot be matched or used; the message says which and why."""


@dataclass(frozen=True)
class FeedbackResult:
    received: int
    matched: int
    unmatched: list[str]  # a few request ids that matched no logged row
    path: Path

    def summary(self) -> str:
        missing = ""
        if self.unmatched:
            missing = f"; not in the log: {', '.join(self.unmatched[:5])}"
            if self.received - self.matched > 5:
                missing += f" and {self.received - self.matched - 5} more"
        return f"{self.matched}/{self.received} outcomes matched logged requests{missing}"


def feedback_dir(settings: Settings) -> Path:
    return settings.resolve(settings.monitoring.quality.feedback_path)


def _log_dir(settings: Settings) -> Path:
    return settings.resolve(settings.monitoring.inference_log.path)


def record_feedback(settings: Settings, labels_path: Path, *, since: timedelta) -> FeedbackResult:
    """Match the outcomes in `labels_path` to requests logged in the last `since`; keep them."""
    target = settings.data.target
    labels = load_table(labels_path)
    missing = [c for c in (REQUEST_ID, target) if c not in labels.columns]
    if missing:
        raise FeedbackError(
            f"{labels_path} lacks the columns {missing}: outcomes need '{REQUEST_ID}' (the "
            f"x-request-id the server returned), '{target}' (what happened) and optionally "
            f"'{ROW_COLUMN}' (the row's position in its request, default 0)"
        )
    if labels.empty:
        raise FeedbackError(f"{labels_path} has no rows: nothing to feed back")
    if labels[target].isna().any():
        raise FeedbackError(f"{labels_path} has rows without a '{target}': drop or fill them")
    rows = labels[ROW_COLUMN] if ROW_COLUMN in labels.columns else pd.Series(0, labels.index)
    try:
        rows = pd.to_numeric(rows, downcast="integer").astype("int64")
    except (TypeError, ValueError):
        raise FeedbackError(f"'{ROW_COLUMN}' in {labels_path} must be whole numbers") from None
    outcomes = pd.DataFrame(
        {CORRELATION_ID: labels[REQUEST_ID].astype(str), ROW: rows, target: labels[target]}
    )
    logged = read_window(_log_dir(settings), since)[[CORRELATION_ID, ROW]].astype(
        {CORRELATION_ID: str, ROW: "int64"}
    )
    joined = outcomes.merge(logged.drop_duplicates(), how="left", indicator=True)
    found = joined["_merge"] == "both"
    unmatched = joined.loc[~found, CORRELATION_ID].drop_duplicates().tolist()
    if not found.any():
        raise FeedbackError(
            f"none of the {len(outcomes)} outcomes in {labels_path} match a request logged in "
            f"the last {since}: check '{REQUEST_ID}' holds the x-request-id the server returned"
        )
    matched = outcomes[found.to_numpy()].assign(**{FED_AT: pd.Timestamp(datetime.now(UTC))})
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    path = feedback_dir(settings) / f"outcomes-{stamp}.parquet"
    write_durably(matched, path)
    return FeedbackResult(len(outcomes), int(found.sum()), unmatched, path)


def labelled_rows(settings: Settings, since: timedelta) -> pd.DataFrame:
    """Logged rows of the last `since` that have an outcome: inputs, version, outcome."""
    folder = feedback_dir(settings)
    files = sorted(folder.glob("outcomes-*.parquet")) if folder.is_dir() else []
    if not files:
        raise FeedbackError(
            f"no outcomes under {folder}: feed them back with `monitor feedback --labels FILE`"
        )
    outcomes = (
        pd.concat([pd.read_parquet(path) for path in files], ignore_index=True)
        .sort_values(FED_AT, kind="stable")
        .drop_duplicates([CORRELATION_ID, ROW], keep="last")
        .drop(columns=[FED_AT])
    )
    logged = read_window(_log_dir(settings), since)
    logged = logged.astype({CORRELATION_ID: str, ROW: "int64"})
    joined = logged.merge(outcomes, on=[CORRELATION_ID, ROW], how="inner")
    if joined.empty:
        raise FeedbackError(
            f"no request logged in the last {since} has an outcome: feed them back with "
            "`monitor feedback --labels FILE`, or choose a longer --since window"
        )
    return joined


def feature_columns(labelled: pd.DataFrame, target: str) -> list[str]:
    return [c for c in labelled.columns if c not in META_COLUMNS and c != target]


def training_data(settings: Settings, labelled: pd.DataFrame) -> tuple[Path, str]:
    """The labelled production rows as a training file, by `retrain_data`; and a description."""
    target = settings.data.target
    fresh = labelled[[*feature_columns(labelled, target), target]]
    policy = settings.monitoring.quality.retrain_data
    if policy == "append":
        base = load_table(settings.data_path)
        frame = pd.concat([base, fresh[[c for c in base.columns if c in fresh.columns]]])
        described = (
            f"{len(base)} rows of {settings.data.path} + {len(fresh)} labelled production rows"
        )
    else:
        frame = fresh
        described = f"{len(fresh)} labelled production rows (replacing {settings.data.path})"
    path = settings.runs_path / "retrain-data" / f"{datetime.now(UTC):%Y%m%dT%H%M%S}.parquet"
    write_durably(frame.reset_index(drop=True), path)
    return path, described
