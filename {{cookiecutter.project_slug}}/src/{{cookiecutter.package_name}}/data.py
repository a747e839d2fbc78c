"""Load a tabular data set, reject bad data before any training, and split it reproducibly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype
from sklearn.model_selection import train_test_split

from .errors import PipelineError
from .tasks import Task

READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}
# A numeric target with at most this many distinct whole numbers looks like class labels or a
# small count: regression is allowed, with a warning that names classification.
FEW_TARGET_VALUES = 10
# Regression splits stratify on this many quantile bands of the target, so a skewed target's
# tail is in both halves.
TARGET_BANDS = 10


class DataError(PipelineError):
    """The data set cannot be used for training; the message says why and what to do."""


def load_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, failing with a message that names the file and the problem."""
    if not path.is_file():
        raise DataError(f"Data file {path} does not exist: pass an existing file with --data")
    if path.stat().st_size == 0:
        raise DataError(f"Data file {path} is empty: it needs a header row and data rows")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        supported = ", ".join(sorted(READERS))
        raise DataError(f"Data file {path} has an unsupported format: use one of {supported}")
    try:
        frame = reader(path)
    except Exception as error:  # each reader raises its own family of parse errors
        raise DataError(f"Data file {path} could not be read as {path.suffix}: {error}") from None
    if frame.empty:
        raise DataError(f"Data file {path} has no data rows")
    return missing_as_nan(frame)


def missing_as_nan(frame: pd.DataFrame) -> pd.DataFrame:
    """One spelling of "missing" in text columns, whatever the source.

    Parquet gives None for a missing string while CSV and the scoring server give NaN; the
    model's imputer fills only NaN, so a None seen in training would become a category of its
    own and serving would disagree with training.
    """
    for column in frame.select_dtypes(include=["object", "string"]).columns:
        values = frame[column].astype(object)
        frame[column] = values.where(values.notna(), np.nan)
    return frame


def validate_table(frame: pd.DataFrame, target: str, source: Path, task: Task) -> list[str]:
    """Reject data the pipeline cannot learn from, before any model is trained; return
    warnings about data it can learn from but that may be meant otherwise."""
    if target not in frame.columns:
        columns = ", ".join(map(str, frame.columns[:20]))
        raise DataError(
            f"Target column '{target}' is not in {source}; its columns are: {columns}. "
            "Pass the right name with --target"
        )
    empty_columns = [str(c) for c in frame.columns if frame[c].isna().all()]
    if empty_columns:
        raise DataError(
            f"Column(s) {', '.join(empty_columns)} in {source} are entirely empty (null): "
            "drop them or fill them in"
        )
    dates = [str(c) for c in frame.columns if c != target and is_datetime64_any_dtype(frame[c])]
    if dates:
        raise DataError(
            f"Column(s) {', '.join(dates)} in {source} hold dates/times, which the models cannot "
            "use directly: derive numbers from them (e.g. days since an event) or drop them"
        )
    if frame[target].isna().any():
        count = int(frame[target].isna().sum())
        raise DataError(f"Target column '{target}' has {count} missing value(s) in {source}")
    if len(frame.columns) < 2:
        raise DataError(f"{source} has no feature columns besides the target '{target}'")
    if task == "regression":
        return _check_numeric_target(frame[target], source)
    _check_classes(frame, target, source)
    return []


def _check_classes(frame: pd.DataFrame, target: str, source: Path) -> None:
    counts = frame[target].value_counts()
    if len(counts) < 2:
        raise DataError(
            f"Target column '{target}' in {source} has a single class "
            f"({counts.index[0]!r}): classification needs at least two"
        )
    rare = counts[counts < 2]
    if not rare.empty:
        raise DataError(
            f"Target classes {list(rare.index)} in {source} have fewer than 2 rows: "
            "a stratified train/test split needs at least 2 of each class"
        )


def _check_numeric_target(values: pd.Series, source: Path) -> list[str]:
    """A regression target must be numbers that vary; few distinct whole numbers get a
    warning, two values are refused (that is a class label)."""
    name = values.name
    switch = "set task: classification in config/pipeline.yaml"
    if is_bool_dtype(values) or not is_numeric_dtype(values):
        example = values.iloc[0]
        raise DataError(
            f"Target column '{name}' in {source} holds {values.dtype} values (e.g. {example!r}), "
            f"but task is regression, which predicts numbers: {switch} to predict classes, "
            "or convert the column to numbers"
        )
    numbers = values.astype(float)
    if not np.isfinite(numbers).all():
        raise DataError(f"Target column '{name}' in {source} has infinite values")
    distinct = numbers.nunique()
    if distinct < 2:
        raise DataError(
            f"Target column '{name}' in {source} has a single value ({numbers.iloc[0]!r}): "
            "regression needs a target that varies"
        )
    if distinct == 2:
        raise DataError(
            f"Target column '{name}' in {source} has only two values "
            f"({', '.join(map(repr, sorted(numbers.unique())))}): that is a class label, not a "
            f"quantity; {switch}"
        )
    whole = bool((numbers == numbers.round()).all())
    if whole and distinct <= FEW_TARGET_VALUES:
        return [
            f"Target column '{name}' has only {distinct} distinct whole numbers: if these are "
            f"classes rather than a quantity, {switch}"
        ]
    return []


def check_sensitive_columns(
    frame: pd.DataFrame, sensitive: list[str], target: str, source: Path
) -> None:
    """Refuse sensitive feature columns (evaluation.fairness) that the data lacks, or the
    target, before anything is trained."""
    setting = "evaluation.fairness.sensitive_features"
    if target in sensitive:
        raise DataError(
            f"'{target}' is the target column, so it cannot be a sensitive feature: remove it "
            f"from {setting}"
        )
    present = [str(c) for c in frame.columns]
    missing = [name for name in sensitive if name not in present]
    if missing:
        shown = ", ".join(present[:20]) + (", ..." if len(present) > 20 else "")
        raise DataError(
            f"Sensitive feature column(s) {', '.join(repr(m) for m in missing)} ({setting}) "
            f"are not in {source}; its columns are: {shown}. Fix the names in "
            "config/pipeline.yaml or point data.path at data that has them"
        )


def split_table(
    frame: pd.DataFrame, target: str, test_size: float, seed: int, task: Task
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified split, so both halves keep every class (regression: every quantile band of
    the target); the seed makes it reproducible."""
    strata = frame[target]
    if task == "regression":
        bands = min(TARGET_BANDS, max(1, int(len(frame) * min(test_size, 1 - test_size)) // 2))
        strata = pd.qcut(frame[target].rank(method="first"), bands, labels=False)
    try:
        train, test = train_test_split(
            frame, test_size=test_size, random_state=seed, stratify=strata
        )
    except ValueError as error:
        raise DataError(f"Cannot split the data with test_size={test_size}: {error}") from None
    return train.reset_index(drop=True), test.reset_index(drop=True)


def features_and_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    return frame.drop(columns=[target]), frame[target]
