"""The local inference log: what `serve` was asked and what it answered, as a Parquet table.

The request path only appends a tuple to a list (no I/O, no pandas, no waiting on a write).
A background thread turns the buffered requests into one Parquet segment every
`flush_seconds`, under `<root>/date=YYYY-MM-DD/hour=HH/`, written to a temporary name and
renamed, so a reader never sees half a file and a crash cannot damage earlier segments. On a
clean shutdown (SIGTERM, Ctrl-C, end of the process) the rest is flushed; a killed process
(SIGKILL, power loss) loses at most the last `flush_seconds` of requests. Every server worker
writes its own segments, so workers never share a file or a lock.

Each row: the model's input columns as validated, `_prediction`, `_model_version`,
`_correlation_id` (the request id; one request may hold several rows) and `_timestamp` (UTC).
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import PipelineError
from .reference import PREDICTION_COLUMN

logger = logging.getLogger("azmlinfsrv.inference_log")

TIMESTAMP = "_timestamp"
CORRELATION_ID = "_correlation_id"
MODEL_VERSION = "_model_version"
META_COLUMNS = (TIMESTAMP, CORRELATION_ID, MODEL_VERSION, PREDICTION_COLUMN)
WINDOW_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class InferenceLogError(PipelineError):
    """The inference log cannot be read as asked (no such folder, no rows in the window...)."""


class InferenceLog:
    """Collect scored requests in memory; a daemon thread flushes them to Parquet segments."""

    def __init__(self, root: Path, model_version: str, flush_seconds: float) -> None:
        self.root = root
        self.model_version = model_version
        self.flush_seconds = flush_seconds
        self._pending: list[tuple[float, str, dict[str, np.ndarray], list[Any]]] = []
        self._lock = threading.Lock()  # guards the buffer swap; held for an append at most
        self._write_lock = threading.Lock()  # one flush at a time (the thread, or close)
        self._stopped = threading.Event()
        self._sequence = 0
        # Write once to memory now: pyarrow imports part of its writer lazily, and an import
        # that registers an exit hook fails once the interpreter is shutting down, which is
        # exactly when a worker stopped right after starting makes its first (final) flush.
        pd.DataFrame({"warm_up": [0.0]}).to_parquet(io.BytesIO(), index=False)
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def record(
        self, correlation_id: str, columns: dict[str, np.ndarray], predictions: list[Any]
    ) -> None:
        """Called on the request path: one append under an uncontended lock, no I/O."""
        with self._lock:
            self._pending.append((time.time(), correlation_id, columns, predictions))

    def flush(self) -> int:
        """Write what is buffered now (one segment per hour it spans); return the row count."""
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            frame = self._frame(batch)
            hours = frame[TIMESTAMP].dt.floor("h")
            for hour, rows in frame.groupby(hours, sort=True):
                self._write(hour, rows)
            return len(frame)

    def close(self) -> None:
        """Stop the thread and flush the rest (clean shutdown loses nothing)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._thread.join(timeout=self.flush_seconds + 5)
        self._safe_flush()

    def _run(self) -> None:
        while not self._stopped.wait(self.flush_seconds):
            self._safe_flush()

    def _safe_flush(self) -> None:
        try:
            self.flush()
        except Exception:  # a full disk must not take the scoring server down
            logger.exception("Could not write the inference log under %s", self.root)

    def _frame(
        self, batch: list[tuple[float, str, dict[str, np.ndarray], list[Any]]]
    ) -> pd.DataFrame:
        sizes = [len(predictions) for _, _, _, predictions in batch]
        names = list(batch[0][2])
        data: dict[str, Any] = {
            name: np.concatenate([columns[name] for _, _, columns, _ in batch]) for name in names
        }
        data[PREDICTION_COLUMN] = [str(p) for _, _, _, predictions in batch for p in predictions]
        data[MODEL_VERSION] = self.model_version
        data[CORRELATION_ID] = np.repeat([cid for _, cid, _, _ in batch], sizes)
        seconds = np.repeat([stamp for stamp, _, _, _ in batch], sizes)
        data[TIMESTAMP] = pd.to_datetime(seconds, unit="s", utc=True)
        return pd.DataFrame(data)

    def _write(self, hour: pd.Timestamp, rows: pd.DataFrame) -> None:
        folder = self.root / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
        folder.mkdir(parents=True, exist_ok=True)
        self._sequence += 1
        name = (
            f"{int(time.time() * 1000)}-{os.getpid()}-{self._sequence:06d}-{uuid.uuid4().hex[:6]}"
        )
        staging = folder / f".{name}.tmp"
        rows.to_parquet(staging, index=False)
        staging.rename(folder / f"{name}.parquet")


def parse_window(window: str) -> timedelta:
    """'30m', '6h', '7d' or '2w' as a duration."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", window)
    if not match or int(match.group(1)) == 0:
        raise InferenceLogError(
            f"--since '{window}' is not a window: use a number and a unit, e.g. 30m, 6h, 7d, 2w"
        )
    return timedelta(**{WINDOW_UNITS[match.group(2)]: int(match.group(1))})


def read_window(root: Path, since: timedelta, now: datetime | None = None) -> pd.DataFrame:
    """Rows logged in the last `since`, from the hour folders that can hold them."""
    if not root.is_dir():
        raise InferenceLogError(
            f"no inference log at {root}: serve the model (`serve`) to collect requests, "
            "or pass --data FILE"
        )
    end = now or datetime.now(UTC)
    start = end - since
    first_hour = start.replace(minute=0, second=0, microsecond=0)
    segments = [
        path
        for path in sorted(root.glob("date=*/hour=*/*.parquet"))
        if _segment_hour(path) >= first_hour
    ]
    frames = [pd.read_parquet(path) for path in segments]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not frame.empty:
        frame = frame[frame[TIMESTAMP] >= pd.Timestamp(start)].reset_index(drop=True)
    if frame.empty:
        raise InferenceLogError(
            f"no requests logged in the last {since} under {root}: choose a longer --since "
            "window, or pass --data FILE"
        )
    return frame


def _segment_hour(path: Path) -> datetime:
    day = path.parent.parent.name.removeprefix("date=")
    hour = path.parent.name.removeprefix("hour=")
    return datetime.strptime(f"{day} {hour}", "%Y-%m-%d %H").replace(tzinfo=UTC)
