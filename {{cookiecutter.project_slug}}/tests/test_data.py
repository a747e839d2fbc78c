"""Bad data fails before training with a message that names the problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_sample

from {{ cookiecutter.package_name }}.data import DataError, load_table, split_table, validate_table


def load_and_validate(path: Path, target: str = "y") -> pd.DataFrame:
    frame = load_table(path)
    validate_table(frame, target, path, "classification")
    return frame


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"does not exist.*--data"):
        load_table(tmp_path / "nope.csv")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="is empty"):
        load_table(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("a,y\n")
    with pytest.raises(DataError, match="no data rows"):
        load_table(tmp_path / "header.csv")


def test_unreadable_formats(tmp_path: Path) -> None:
    (tmp_path / "data.xlsx").write_text("a,y\n1,0\n")
    with pytest.raises(DataError, match=r"unsupported format.*\.csv"):
        load_table(tmp_path / "data.xlsx")
    (tmp_path / "data.parquet").write_text("this is not parquet")
    with pytest.raises(DataError, match=r"could not be read as \.parquet"):
        load_table(tmp_path / "data.parquet")


def test_target_absent(tmp_path: Path) -> None:
    pd.DataFrame({"a": [1, 2, 3], "b": [0, 1, 0]}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match=r"Target column 'y' is not in .*columns are: a, b"):
        load_and_validate(tmp_path / "d.csv")


def test_single_class(tmp_path: Path) -> None:
    pd.DataFrame({"a": [1, 2, 3], "y": [1, 1, 1]}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match="single class"):
        load_and_validate(tmp_path / "d.csv")


def test_entirely_null_column(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3, 4], "empty": [None] * 4, "y": [0, 1, 0, 1]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match=r"empty.*entirely empty"):
        load_and_validate(tmp_path / "d.csv")


def test_date_columns_are_rejected_with_advice(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"signup": pd.date_range("2024-01-01", periods=4), "a": range(4), "y": [0, 1, 0, 1]}
    )
    with pytest.raises(DataError, match=r"signup .* dates/times"):
        validate_table(frame, "y", tmp_path / "d.parquet", "classification")


def test_missing_target_values_and_tiny_classes(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": range(5), "y": [0, 1, None, 0, 1]})
    with pytest.raises(DataError, match="missing value"):
        validate_table(frame, "y", tmp_path / "d.csv", "classification")
    frame = pd.DataFrame({"a": range(5), "y": [0, 0, 0, 0, 1]})
    with pytest.raises(DataError, match="fewer than 2 rows"):
        validate_table(frame, "y", tmp_path / "d.csv", "classification")


def test_split_is_stratified_and_reproducible() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=300), "y": rng.choice(["p", "q", "r"], 300)})
    train, test = split_table(frame, "y", 0.25, seed=3, task="classification")
    again_train, again_test = split_table(frame, "y", 0.25, seed=3, task="classification")
    pd.testing.assert_frame_equal(train, again_train)
    pd.testing.assert_frame_equal(test, again_test)
    assert len(test) == 75
    assert set(test["y"]) == {"p", "q", "r"}
    shares = frame["y"].value_counts(normalize=True)
    assert (test["y"].value_counts(normalize=True) - shares).abs().max() < 0.03


def test_sample_data_is_regenerated_exactly_by_its_script(tmp_path: Path) -> None:
    project_dir = Path(__file__).resolve().parents[1]
    script = project_dir / "scripts" / "make_sample_data.py"
    subprocess.run([sys.executable, str(script), str(tmp_path / "sample.csv")], check=True)
    assert (tmp_path / "sample.csv").read_bytes() == (
        project_dir / "data" / "sample.csv"
    ).read_bytes()
    churn = pd.read_csv(write_sample("classification", tmp_path / "churn.csv"))
    assert churn["churned"].nunique() == 2
    assert churn.isna().any().any()  # some missing values, as real exports have
    assert set(churn.select_dtypes("object").columns) >= {"contract", "payment_method"}
    fares = pd.read_csv(write_sample("regression", tmp_path / "fares.csv"))
    assert fares["fare_amount"].min() > 0
    assert fares["fare_amount"].skew() > 1  # a long right tail, like real fares
    assert fares.isna().any().any()
    assert set(fares.select_dtypes("object").columns) >= {"vendor", "payment_type"}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_missing_text_reads_as_nan_in_every_format(tmp_path: Path, suffix: str) -> None:
    """Parquet returns None for missing strings; the model's imputer only fills NaN."""
    frame = pd.DataFrame({"plan": ["basic", None, "pro"], "spend": [1.0, np.nan, 2.0]})
    path = tmp_path / f"data{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)

    loaded = load_table(path)

    assert loaded["plan"].tolist()[0::2] == ["basic", "pro"]
    missing = loaded["plan"].tolist()[1]
    assert missing is not None and isinstance(missing, float) and np.isnan(missing)
