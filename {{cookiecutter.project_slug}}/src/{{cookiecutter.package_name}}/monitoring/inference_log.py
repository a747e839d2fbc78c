"""The local inference log: what `serve` was asked and what it answered, as a Parquet table.

The request path only appends a tuple to a list (no I/O, no pandas, no waiting on a write).
A background thread turns the buffered requests into one Parquet segment every
`flush_seconds`, under `<root>/date=YYYY-MM-DD/hour=HH/`: written to a temporary name, synced
to disk (fsync) and renamed, so neither a reader nor a power loss ever sees half a file. On a
clean shutdown (SIGTERM, Ctrl-C, end of the process) the rest is flushed; a killed process
(SIGKILL, power loss) loses at most the last `flush_seconds` of requests. A flush that fails (a
full disk) keeps its rows for the next one, counted in `failed_flushes`; beyond
`MAX_PENDING_ROWS` the oldest are dropped and counted in `dropped_rows`, so memory stays bounded.
Every server worker writes its own segments, so workers never share a file.

Every `compact_minutes` a worker's thread also merges each hour's segments into one file and
deletes days older than `retention_days`, so the number of files, and with it the cost of
reading a day, does not grow with the number of flushes. A reader holds a shared lock while it
reads, the compactor an exclusive one only to swap the merged file in, so rows are never read
twice or missed. A segment that cannot be read (a 0-byte file from a crash of another tool) is
set aside under `.corrupt/`, never read again, and never stops a reader.

Each row: the model's input columns as validated (text always as strings, so every segment has
one schema and `pd.read_parquet(root)` reads the folder as one table), `_prediction` (text
for every task, as in the drift reference: a class label, or a regressor's float as Python
writes it, which `float()` reads back exactly; a numeric column here would not concatenate
with the text of a classifier logged to the same folder), `_model_version`,
`_correlation_id` (the request id the server returns in `x-request-id`), `_row` (the row's
position in its request) and `_timestamp` (UTC).
"""

from __future__ import annotations

import atexit
import fcntl
import io
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from ..data import missing_as_nan
from ..drift_reference import PREDICTION_COLUMN
from ..errors import PipelineError

logger = logging.getLogger("azmlinfsrv.inference_log")

TIMESTAMP = "_timestamp"
CORRELATION_ID = "_correlation_id"
ROW = "_row"
MODEL_VERSION = "_model_version"
META_COLUMNS = (TIMESTAMP, CORRELATION_ID, ROW, MODEL_VERSION, PREDICTION_COLUMN)
WINDOW_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_PENDING_ROWS = 1_000_000
COMPACTED_PREFIX = "compacted-"
READ_LOCK = ".read.lock"  # readers shared; the compactor exclusive while it swaps files
COMPACT_LOCK = ".compact.lock"  # one compactor at a time, across workers
CORRUPT_FOLDER = ".corrupt"

Record = tuple[float, str, dict[str, np.ndarray], list[Any]]


class InferenceLogError(PipelineError):
    """The inference log cannot be read as asked (no such folder, no rows in the window...)."""


class InferenceLog:
    """Collect scored requests in memory; a daemon thread flushes them to Parquet segments."""

    def __init__(
        self,
        root: Path,
        model_version: str,
        flush_seconds: float,
        *,
        retention_days: int = 30,
        compact_minutes: float = 10.0,
    ) -> None:
        self.root = root
        self.model_version = model_version
        self.flush_seconds = flush_seconds
        self.retention_days = retention_days
        self.compact_seconds = compact_minutes * 60
        self.failed_flushes = 0
        self.dropped_rows = 0
        self._pending: list[Record] = []
        self._lock = threading.Lock()  # guards the buffer swap; held for an append at most
        self._write_lock = threading.Lock()  # one flush at a time (the thread, or close)
        self._stopped = threading.Event()
        self._sequence = 0
        self._last_maintenance = time.monotonic()
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

    @property
    def pending_rows(self) -> int:
        with self._lock:
            return sum(len(predictions) for *_, predictions in self._pending)

    def flush(self) -> int:
        """Write what is buffered now (one segment per hour it spans); return the row count.
        On failure the hours not written go back to the buffer and the error is raised."""
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            by_hour: dict[int, list[Record]] = {}
            for record in batch:
                by_hour.setdefault(int(record[0] // 3600), []).append(record)
            written = 0
            hours = sorted(by_hour)
            for index, hour in enumerate(hours):
                try:
                    frame = self._frame(by_hour[hour])
                    self._write(pd.Timestamp(hour * 3600, unit="s", tz="UTC"), frame)
                except Exception:
                    self.failed_flushes += 1
                    self._requeue([r for h in hours[index:] for r in by_hour[h]])
                    raise
                written += len(frame)
            return written

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
            if time.monotonic() - self._last_maintenance >= self.compact_seconds:
                self._last_maintenance = time.monotonic()
                try:
                    compact(self.root, retention_days=self.retention_days)
                except Exception:  # maintenance is never worth a scoring worker
                    logger.exception("Could not compact the inference log under %s", self.root)

    def _safe_flush(self) -> None:
        try:
            self.flush()
        except Exception:  # a full disk must not take the scoring server down
            logger.exception(
                "Could not write the inference log under %s; %d rows kept for the next flush "
                "(%d failed flushes, %d rows dropped so far)",
                self.root,
                self.pending_rows,
                self.failed_flushes,
                self.dropped_rows,
            )

    def _requeue(self, records: list[Record]) -> None:
        """Put unwritten records back in front; keep at most MAX_PENDING_ROWS, newest first."""
        with self._lock:
            self._pending = records + self._pending
            rows = sum(len(predictions) for *_, predictions in self._pending)
            while rows > MAX_PENDING_ROWS and len(self._pending) > 1:
                dropped = len(self._pending.pop(0)[3])
                rows -= dropped
                self.dropped_rows += dropped

    def _frame(self, batch: list[Record]) -> pd.DataFrame:
        sizes = [len(predictions) for *_, predictions in batch]
        data: dict[str, Any] = {
            name: _one_type(np.concatenate([columns[name] for _, _, columns, _ in batch]))
            for name in batch[0][2]
        }
        # str(float) is the shortest text that reads back as the same float: nothing is lost.
        data[PREDICTION_COLUMN] = [str(p) for *_, predictions in batch for p in predictions]
        data[MODEL_VERSION] = self.model_version
        data[CORRELATION_ID] = np.repeat([cid for _, cid, _, _ in batch], sizes)
        data[ROW] = np.concatenate([np.arange(size, dtype=np.int32) for size in sizes])
        seconds = np.repeat([stamp for stamp, *_ in batch], sizes)
        data[TIMESTAMP] = pd.to_datetime(seconds, unit="s", utc=True)
        return pd.DataFrame(data)

    def _write(self, hour: pd.Timestamp, rows: pd.DataFrame) -> None:
        self._sequence += 1
        name = (
            f"{int(time.time() * 1000)}-{os.getpid()}-{self._sequence:06d}-{uuid.uuid4().hex[:6]}"
        )
        write_durably(rows, _hour_folder(self.root, hour) / f"{name}.parquet")


def _one_type(values: np.ndarray) -> Any:
    """Text as pandas strings, even when every value is missing: a segment whose text column
    is all-null would otherwise be typed `null` and not read together with the others."""
    return pd.array(values, dtype="string") if values.dtype == object else values


def write_durably(frame: pd.DataFrame, path: Path) -> None:
    """Write to a hidden temporary name, fsync, rename, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = _staging(path)
    _write_synced(staging, lambda handle: frame.to_parquet(handle, index=False))
    os.replace(staging, path)
    _fsync_folder(path.parent)


def _staging(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")  # hidden: readers and pyarrow skip it


def _write_synced(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """`write` into `path` and make it durable before anyone renames it into view."""
    try:
        with path.open("wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable too."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _hour_folder(root: Path, hour: datetime) -> Path:
    return root / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"


@contextmanager
def _locked(root: Path, name: str, mode: int) -> Iterator[bool]:
    """An flock on `root/name`; yields False when a non-blocking lock is held elsewhere."""
    root.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(root / name, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, mode)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)  # releases the lock


@dataclass(frozen=True)
class Compaction:
    merged_files: int
    hours: int
    set_aside: int
    removed_days: int


def compact(
    root: Path, *, retention_days: int | None = None, now: datetime | None = None
) -> Compaction | None:
    """Merge each hour's segments into one file and delete days past `retention_days`.
    Returns None when another process is compacting right now (it will do the work)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not root.is_dir():
        return Compaction(0, 0, 0, 0)
    merged = hours = set_aside = removed = 0
    with _locked(root, COMPACT_LOCK, fcntl.LOCK_EX | fcntl.LOCK_NB) as mine:
        if not mine:
            return None
        if retention_days is not None:
            oldest = ((now or datetime.now(UTC)) - timedelta(days=retention_days)).date()
            for day in sorted(root.glob("date=*")):
                if _folder_day(day) < oldest:
                    with _locked(root, READ_LOCK, fcntl.LOCK_EX):
                        shutil.rmtree(day)
                    removed += 1
        for folder in sorted(root.glob("date=*/hour=*")):
            segments = sorted(folder.glob("*.parquet"))
            if len(segments) < 2:
                continue
            tables, bad = _read_tables(segments)
            stamp = f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:6]}"
            target = folder / f"{COMPACTED_PREFIX}{stamp}.parquet"
            if tables:
                table = pa.concat_tables(tables, promote_options="default")
                _write_synced(_staging(target), partial(pq.write_table, table))
            with _locked(root, READ_LOCK, fcntl.LOCK_EX):  # swap: no reader sees both or neither
                if tables:
                    os.replace(_staging(target), target)
                for path in segments:
                    if path in bad:
                        (folder / CORRUPT_FOLDER).mkdir(exist_ok=True)
                        os.replace(path, folder / CORRUPT_FOLDER / path.name)
                    else:
                        path.unlink()
            _fsync_folder(folder)
            merged += len(segments) - len(bad)
            set_aside += len(bad)
            hours += 1
    return Compaction(merged, hours, set_aside, removed)


def _read_tables(paths: list[Path]) -> tuple[list[Any], set[Path]]:
    """Every readable segment as an Arrow table, and the set of unreadable ones."""
    import pyarrow.parquet as pq

    tables, bad = [], set()
    for path in paths:
        try:
            tables.append(pq.read_table(path))
        except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
            logger.warning("Skipping unreadable inference log segment %s: %s", path, error)
            bad.add(path)
    return tables, bad


def _folder_day(folder: Path) -> Any:
    return datetime.strptime(folder.name.removeprefix("date="), "%Y-%m-%d").date()


def parse_window(window: str) -> timedelta:
    """'30m', '6h', '7d' or '2w' as a duration."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", window)
    if not match or int(match.group(1)) == 0:
        raise InferenceLogError(
            f"--since '{window}' is not a window: use a number and a unit, e.g. 30m, 6h, 7d, 2w"
        )
    return timedelta(**{WINDOW_UNITS[match.group(2)]: int(match.group(1))})


def read_window(root: Path, since: timedelta, now: datetime | None = None) -> pd.DataFrame:
    """Rows logged in the last `since`, from the hour folders that can hold them, read as one
    Arrow table (one schema; missing text as NaN); unreadable segments are skipped with a
    warning."""
    import pyarrow as pa

    if not root.is_dir():
        raise InferenceLogError(
            f"no inference log at {root}: serve the model (`serve`) to collect requests, "
            "or pass --data FILE"
        )
    end = now or datetime.now(UTC)
    start = end - since
    first_hour = start.replace(minute=0, second=0, microsecond=0)
    with _locked(root, READ_LOCK, fcntl.LOCK_SH):
        segments = [
            path
            for path in sorted(root.glob("date=*/hour=*/*.parquet"))
            if _segment_hour(path) >= first_hour
        ]
        tables, _ = _read_tables(segments)
    frame = (  # missing text as NaN, as training and the scoring server spell it
        missing_as_nan(pa.concat_tables(tables, promote_options="default").to_pandas())
        if tables
        else pd.DataFrame()
    )
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
