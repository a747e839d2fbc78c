"""Step 1: validate the data (before any training) and split it into train/test Parquet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow

from ..config import Settings
from ..data import check_sensitive_columns, load_table, split_table, validate_table
from ..lineage import file_sha256
from .records import log_dataset, read_record, write_record

PREPARED_RECORD = "prepared.json"


@dataclass(frozen=True)
class PreparedData:
    train_path: Path
    test_path: Path
    target: str
    source: str
    data_sha256: str
    classes: list[str]  # empty for regression
    n_train: int
    n_test: int
    # Regression: the target's range; warnings about data that may be meant otherwise.
    target_range: tuple[float, float] | None = None
    warnings: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.target_range is None:
            kind = f"{len(self.classes)} classes of '{self.target}'"
        else:
            low, high = self.target_range
            kind = f"'{self.target}' from {low:g} to {high:g}"
        notes = "".join(f"; warning: {text}" for text in self.warnings)
        return f"{self.n_train} train / {self.n_test} test rows, {kind}{notes}"

    @classmethod
    def read(cls, folder: Path) -> PreparedData:
        record = read_record(folder, PREPARED_RECORD)
        target_range = record.pop("target_range", None)
        return cls(
            **{
                **record,
                "target_range": None if target_range is None else tuple(target_range),
                "warnings": tuple(record.get("warnings", ())),
                "train_path": folder / "train.parquet",
                "test_path": folder / "test.parquet",
            }
        )


def prepare_data(data_path: Path, output_dir: Path, settings: Settings) -> PreparedData:
    """Load, validate (before any training) and split the data into train/test Parquet files."""
    target = settings.data.target
    frame = load_table(data_path)
    warnings = validate_table(frame, target, data_path, settings.task)
    sensitive = settings.evaluation.fairness.sensitive_features
    check_sensitive_columns(frame, sensitive, target, data_path)
    train_frame, test_frame = split_table(
        frame, target, settings.data.test_size, settings.seed, settings.task
    )
    regression = settings.task == "regression"
    output_dir.mkdir(parents=True, exist_ok=True)
    train_frame.to_parquet(output_dir / "train.parquet", index=False)
    test_frame.to_parquet(output_dir / "test.parquet", index=False)
    prepared = PreparedData(
        train_path=output_dir / "train.parquet",
        test_path=output_dir / "test.parquet",
        target=target,
        source=str(data_path),
        data_sha256=file_sha256(data_path),
        classes=[] if regression else sorted(str(c) for c in frame[target].unique()),
        n_train=len(train_frame),
        n_test=len(test_frame),
        target_range=(
            (float(frame[target].min()), float(frame[target].max())) if regression else None
        ),
        warnings=tuple(warnings),
    )
    write_record(output_dir, PREPARED_RECORD, prepared)
    log_dataset(frame, data_path, target, data_path.name, "source")
    if mlflow.active_run():
        mlflow.log_params({"data.source": str(data_path), "data.target": target})
        mlflow.log_metrics({"data.n_train": prepared.n_train, "data.n_test": prepared.n_test})
        mlflow.set_tag("lineage.data_sha256", prepared.data_sha256)
        if warnings:
            mlflow.set_tag("data.warnings", " | ".join(warnings))
    return prepared
