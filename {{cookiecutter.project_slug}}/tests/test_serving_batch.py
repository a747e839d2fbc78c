"""Batch scoring: same predictions as in memory, chunked, bounded memory, clean failures."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from serving_fixtures import FARE, make_fares, make_frame, save_model, save_regressor

from {{ cookiecutter.package_name }}.serving.batch import BatchInputError, score_file


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    model_dir = tmp_path_factory.mktemp("model") / "model"
    return model_dir, save_model(model_dir)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame(20_000, seed=3)


@pytest.mark.parametrize(("source", "target"), [(".csv", ".parquet"), (".parquet", ".csv")])
def test_chunked_scores_equal_in_memory_predictions(model, frame, tmp_path, source, target) -> None:
    model_dir, pipeline = model
    input_path, output_path = tmp_path / f"in{source}", tmp_path / f"out{target}"
    if source == ".csv":
        frame.to_csv(input_path, index=False)
    else:
        frame.to_parquet(input_path, index=False)
    seen: list[int] = []
    summary = score_file(
        model_dir,
        input_path,
        output_path,
        chunk_rows=3_000,
        progress=lambda rows, total: seen.append(rows),
    )
    scored = pd.read_csv(output_path) if target == ".csv" else pd.read_parquet(output_path)
    assert summary.rows == len(frame) == len(scored)
    assert scored["prediction"].tolist() == pipeline.predict(frame).tolist()
    assert len(seen) >= 5 and seen[-1] == len(frame)  # progress after every chunk
    assert list(tmp_path.glob(".*partial")) == []


def test_keep_columns_copies_the_input_next_to_the_prediction(model, frame, tmp_path) -> None:
    model_dir, _ = model
    frame.head(50).assign(customer_id=range(50)).to_parquet(tmp_path / "in.parquet")
    score_file(model_dir, tmp_path / "in.parquet", tmp_path / "out.parquet", keep_columns=True)
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert list(scored.columns) == [*frame.columns, "customer_id", "prediction"]
    assert scored["customer_id"].tolist() == list(range(50))


def peak_memory(model_dir: Path, input_path: Path, output_path: Path, chunk_rows: int) -> int:
    """Peak bytes held by Python/numpy (tracemalloc) plus Arrow's own pool while scoring."""
    pool = pa.default_memory_pool()
    pool.release_unused()
    arrow_before = pool.max_memory() or 0
    tracemalloc.start()
    try:
        score_file(model_dir, input_path, output_path, chunk_rows=chunk_rows, progress=print)
        python_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return python_peak + max((pool.max_memory() or 0) - arrow_before, 0)


def test_memory_is_bounded_by_the_chunk_not_the_file(model, tmp_path) -> None:
    model_dir, _ = model
    make_frame(120_000, seed=4).to_csv(tmp_path / "big.csv", index=False)
    small_chunks = peak_memory(model_dir, tmp_path / "big.csv", tmp_path / "a.parquet", 2_000)
    one_chunk = peak_memory(model_dir, tmp_path / "big.csv", tmp_path / "b.parquet", 120_000)
    assert small_chunks < one_chunk / 5, (small_chunks, one_chunk)


def test_bad_files_fail_with_a_message_and_leave_no_output(model, frame, tmp_path) -> None:
    model_dir, _ = model
    frame.drop(columns=["contract"]).to_csv(tmp_path / "missing.csv", index=False)
    with pytest.raises(BatchInputError, match=r"lacks the model's columns \['contract'\]"):
        score_file(model_dir, tmp_path / "missing.csv", tmp_path / "out.csv")

    broken = frame.head(10).astype({"tenure_months": object})
    broken.loc[7, "tenure_months"] = "ten"
    broken.to_csv(tmp_path / "broken.csv", index=False)
    with pytest.raises(BatchInputError, match=r"could not be read.*tenure_months"):
        score_file(model_dir, tmp_path / "broken.csv", tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
    assert list(tmp_path.glob(".*partial")) == []

    with pytest.raises(BatchInputError, match="must end in"):
        score_file(model_dir, tmp_path / "missing.csv", tmp_path / "out.json")
    with pytest.raises(BatchInputError, match="does not exist"):
        score_file(model_dir, tmp_path / "nope.csv", tmp_path / "out.csv")


def test_a_regressor_writes_one_float_column_of_predictions(tmp_path) -> None:
    """The fare column of a labelled file is ignored; no probability columns, as online."""
    model, _ = save_regressor(tmp_path / "model")
    trips = make_fares(500, seed=2)
    trips.to_parquet(tmp_path / "trips.parquet", index=False)
    score_file(
        tmp_path / "model",
        tmp_path / "trips.parquet",
        tmp_path / "fares.parquet",
        progress=lambda rows, total: None,
    )
    scored = pq.read_table(tmp_path / "fares.parquet")
    assert scored.schema.names == ["prediction"]
    assert scored.schema.field("prediction").type == pa.float64()
    expected = model.predict(trips.drop(columns=[FARE])).tolist()
    assert scored.column("prediction").to_pylist() == expected
