"""The inference log survives what production does to it: crashes mid-write, a full disk,
months of flushes, a corrupt file, and readers that arrive while it is being compacted."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.drift_reference import PREDICTION_COLUMN
from {{ cookiecutter.package_name }}.monitoring import inference_log
from {{ cookiecutter.package_name }}.monitoring.inference_log import (
    CORRELATION_ID,
    CORRUPT_FOLDER,
    ROW,
    InferenceLog,
    compact,
    read_window,
)


def columns(rows: int, start: float, text: str | None = "a") -> dict[str, np.ndarray]:
    return {
        "x": np.arange(start, start + rows, dtype=float),
        "c": np.array([text] * rows, dtype=object),
    }


def log_at(root: Path) -> InferenceLog:
    """A log whose thread never fires: the test decides when to flush."""
    return InferenceLog(root, "3", flush_seconds=3600)


def segments(root: Path) -> list[Path]:
    return sorted(root.glob("date=*/hour=*/*.parquet"))


def test_each_segment_is_synced_before_it_is_renamed_into_view(tmp_path, monkeypatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor: int) -> None:
        events.append("fsync")
        real_fsync(descriptor)

    def replace(source: Path, target: Path) -> None:
        events.append(f"rename to {Path(target).suffix}")
        real_replace(source, target)

    monkeypatch.setattr(inference_log.os, "fsync", fsync)
    monkeypatch.setattr(inference_log.os, "replace", replace)
    log = log_at(tmp_path / "log")
    log.record("req", columns(2, 0), [1, 0])
    log.close()
    assert events[:3] == ["fsync", "rename to .parquet", "fsync"]  # file, rename, folder


def failing_write(*args: object) -> None:
    raise OSError("disk full")


def test_a_failed_flush_keeps_its_rows_for_the_next_one(tmp_path, monkeypatch) -> None:
    log = log_at(tmp_path / "log")
    log.record("first", columns(2, 0), [1, 0])
    real_write = InferenceLog._write
    monkeypatch.setattr(
        InferenceLog, "_write", lambda *a: (_ for _ in ()).throw(OSError("disk full"))
    )
    with pytest.raises(OSError, match="disk full"):
        log.flush()
    assert (log.failed_flushes, log.pending_rows) == (1, 2)
    log.record("second", columns(1, 2), [1])
    monkeypatch.setattr(InferenceLog, "_write", real_write)
    assert log.flush() == 3
    log.close()
    table = read_window(tmp_path / "log", timedelta(hours=1))
    assert table[CORRELATION_ID].tolist() == ["first", "first", "second"]  # once each, in order
    assert table[ROW].tolist() == [0, 1, 0]


def test_memory_stays_bounded_while_the_disk_is_gone(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(inference_log, "MAX_PENDING_ROWS", 5)
    monkeypatch.setattr(InferenceLog, "_write", failing_write)
    log = log_at(tmp_path / "log")
    for index in range(4):
        log.record(f"req-{index}", columns(2, index), [0, 1])
        with pytest.raises(OSError):
            log.flush()
    assert log.pending_rows <= 5 and log.dropped_rows == 4 and log.failed_flushes == 4
    log._stopped.set()  # nothing more to write


def test_a_corrupt_segment_is_skipped_by_readers_and_set_aside_by_compaction(tmp_path) -> None:
    root = tmp_path / "log"
    log = log_at(root)
    log.record("good", columns(3, 0), [1, 1, 0])
    log.close()
    (empty,) = segments(root)
    (empty.parent / "0-crashed.parquet").write_bytes(b"")  # a 0-byte file from a power loss
    assert read_window(root, timedelta(hours=1))[CORRELATION_ID].tolist() == ["good"] * 3
    done = compact(root)
    assert (done.merged_files, done.set_aside) == (1, 1)
    assert (empty.parent / CORRUPT_FOLDER / "0-crashed.parquet").exists()
    assert len(read_window(root, timedelta(hours=1))) == 3


def test_compaction_bounds_the_files_and_keeps_every_row(tmp_path) -> None:
    root = tmp_path / "log"
    log = log_at(root)
    for index in range(40):
        log.record(f"req-{index}", columns(2, index * 2), [0, 1])
        log.flush()
    log.close()
    before = read_window(root, timedelta(hours=1))
    assert len(segments(root)) >= 40
    done = compact(root)
    assert done.merged_files >= 40
    hours = {path.parent for path in segments(root)}
    assert len(segments(root)) == len(hours)  # one file per hour
    after = read_window(root, timedelta(hours=1))
    pd.testing.assert_frame_equal(
        after.sort_values([CORRELATION_ID, ROW]).reset_index(drop=True),
        before.sort_values([CORRELATION_ID, ROW]).reset_index(drop=True),
    )


def test_a_reader_during_compaction_sees_every_row_exactly_once(tmp_path) -> None:
    root = tmp_path / "log"
    log = log_at(root)
    for index in range(30):
        log.record(f"req-{index}", columns(1, index), [1])
        log.flush()
    log.close()
    counts: list[int] = []

    def read_repeatedly() -> None:
        for _ in range(20):
            counts.append(len(read_window(root, timedelta(hours=1))))

    reader = threading.Thread(target=read_repeatedly)
    reader.start()
    compact(root)
    reader.join()
    assert set(counts) == {30}


def test_only_one_compactor_runs_at_a_time(tmp_path) -> None:
    root = tmp_path / "log"
    root.mkdir()
    with inference_log._locked(root, inference_log.COMPACT_LOCK, inference_log.fcntl.LOCK_EX):
        assert compact(root) is None  # another worker holds it: nothing done twice


def test_days_past_retention_are_deleted(tmp_path) -> None:
    root = tmp_path / "log"
    log = log_at(root)
    log.record("today", columns(1, 0), [1])
    log.close()
    old_day = datetime.now(UTC) - timedelta(days=40)
    old = root / f"date={old_day:%Y-%m-%d}" / "hour=05"
    old.mkdir(parents=True)
    next(iter(segments(root))).replace(old / "old.parquet")
    log = log_at(root)
    log.record("today", columns(1, 0), [1])
    log.close()
    done = compact(root, retention_days=30)
    assert done.removed_days == 1 and not old.exists()
    assert read_window(root, timedelta(days=60))[CORRELATION_ID].tolist() == ["today"]


def test_the_folder_reads_as_one_table_even_with_an_all_missing_text_column(tmp_path) -> None:
    """What docs/monitoring.md shows: `pd.read_parquet` of the whole log folder."""
    root = tmp_path / "log"
    log = log_at(root)
    log.record("none", columns(2, 0, text=None), [0, 1])
    log.flush()
    log.record("text", columns(2, 2, text="b"), [1, 1])
    log.close()
    assert len(segments(root)) == 2
    table = pd.read_parquet(root)
    assert len(table) == 4
    assert sorted(table["c"].dropna().tolist()) == ["b", "b"]


def test_a_regressors_predictions_are_logged_as_text_that_reads_back_exactly(tmp_path) -> None:
    fares = [0.1 + 0.2, 1 / 3, 72.62, 1e-17, 123456789.125]
    log = log_at(tmp_path / "log")
    log.record("req", columns(len(fares), 0), fares)
    log.close()
    logged = read_window(tmp_path / "log", timedelta(hours=1))[PREDICTION_COLUMN]
    assert [float(text) for text in logged] == fares
