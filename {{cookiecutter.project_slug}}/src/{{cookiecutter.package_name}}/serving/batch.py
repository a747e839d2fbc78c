"""Score a CSV or Parquet file of any size in chunks, like an Azure batch endpoint does.

Parsing, not the model, is the cost of batch scoring (pandas needs ~12 s to read 1M x 30 rows of
CSV; the model predicts ~1M rows/s), so files are streamed with pyarrow's multi-threaded readers,
typed from the model's signature, a few chunks read ahead on a second thread (from before the
model is loaded), so only those few are ever in memory. Output goes
to a temporary file renamed at the end, so a failed run never leaves a plausible-looking result.
"""

from __future__ import annotations

import csv
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ..errors import PipelineError
from .schema import InputSchema
from .scoring import Model, read_schema

# The one column batch scoring adds: the class label, or a regressor's prediction as a float64
# (no probabilities for either, as online).
PREDICTION_COLUMN = "prediction"
_ARROW_TYPES = {
    "double": pa.float64(),
    "float": pa.float64(),
    "long": pa.int64(),
    "integer": pa.int32(),
    "boolean": pa.bool_(),
    "string": pa.string(),
}
_CSV = {".csv"}
_PARQUET = {".parquet", ".pq"}


class BatchInputError(PipelineError):
    """The input or output file cannot be scored as asked; the message says why."""


@dataclass(frozen=True)
class BatchSummary:
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def score_file(
    model_dir: Path,
    input_path: Path,
    output_path: Path,
    *,
    chunk_rows: int = 50_000,
    keep_columns: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
    model: Model | None = None,
) -> BatchSummary:
    """Score `input_path` into `output_path` (format from each suffix), one chunk at a time.

    `progress(rows_done, rows_total_or_estimate)` is called after each chunk; by default a
    line goes to stderr. `model`, when given, is used instead of loading `model_dir` again
    (the Azure batch driver loads it once per worker).
    """
    for path, role in ((input_path, "input"), (output_path, "output")):
        if path.suffix.lower() not in _CSV | _PARQUET:
            raise BatchInputError(f"{role} {path} must end in .csv, .parquet or .pq")
    if not input_path.is_file():
        raise BatchInputError(f"input {input_path} does not exist")
    schema = model.schema if model else read_schema(model_dir)
    report = progress or _print_progress
    started = time.perf_counter()
    partial = output_path.with_name(f".{output_path.name}.partial")
    output_path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    writer = None
    finished = False
    try:
        chunks, total = _read_chunks(input_path, schema, chunk_rows)
        with _reading_ahead(chunks) as ready:
            model = model or Model.load(model_dir)  # while the first chunks are parsed
            for chunk in ready:
                table = _score_chunk(model, chunk, keep_columns, first_row=rows)
                if writer is None:
                    writer = _open_writer(output_path, partial, table.schema)
                writer.write_table(table)
                rows += chunk.num_rows
                report(rows, total)
        finished = True
    except pa.ArrowInvalid as error:
        raise BatchInputError(
            f"{input_path} could not be read ({rows:,} rows scored before): "
            f"{_name_csv_column(input_path, str(error))}"
        ) from None
    finally:
        if writer is not None:
            writer.close()
        if not finished:
            partial.unlink(missing_ok=True)
    if writer is None:
        raise BatchInputError(f"{input_path} has no rows to score")
    partial.replace(output_path)
    return BatchSummary(rows=rows, seconds=time.perf_counter() - started)


def _score_chunk(
    model: Model, chunk: pa.RecordBatch | pa.Table, keep_columns: bool, first_row: int
) -> pa.Table:
    columns = model_columns(chunk, model.schema)
    try:
        predictions = model.predict_batch(columns)
    except ValueError as error:
        raise BatchInputError(
            f"rows {first_row:,}-{first_row + chunk.num_rows - 1:,} could not be scored: {error}"
        ) from None
    columns = {name: chunk.column(name) for name in chunk.schema.names} if keep_columns else {}
    if PREDICTION_COLUMN in columns:
        raise BatchInputError(f"the input already has a '{PREDICTION_COLUMN}' column")
    columns[PREDICTION_COLUMN] = pa.array(predictions)
    return pa.table(columns)


def model_columns(chunk: pa.RecordBatch | pa.Table, schema: InputSchema) -> dict[str, np.ndarray]:
    """The chunk's model columns as numpy, missing values as NaN (text included), exactly as
    training and the scoring server see them; numbers without missing values are not copied."""
    columns = {}
    for name in schema.names:
        column = chunk.column(name)
        values = column.to_numpy(zero_copy_only=False)
        if values.dtype == object and column.null_count:
            values = values.copy()  # Arrow's may be read-only
            values[column.is_null().to_numpy(zero_copy_only=False)] = np.nan
        columns[name] = values
    return columns


def _read_chunks(
    path: Path, schema: InputSchema, chunk_rows: int
) -> tuple[Iterator[pa.RecordBatch | pa.Table], int | None]:
    """Stream typed record batches; also return the total rows (Parquet) or an estimate (CSV)."""
    if path.suffix.lower() in _PARQUET:
        parquet = pq.ParquetFile(path)
        _check_columns(path, parquet.schema_arrow.names, schema)
        batches = parquet.iter_batches(batch_size=chunk_rows, columns=None)
        return (_cast(batch, schema) for batch in batches), parquet.metadata.num_rows
    row_bytes = _bytes_per_csv_row(path)
    options = pa_csv.ConvertOptions(
        column_types={c.name: _ARROW_TYPES[c.type] for c in schema.columns},
        strings_can_be_null=True,
    )
    with path.open(newline="") as handle:
        header = next(csv.reader(handle), [])
    _check_columns(path, header, schema)
    block_bytes = max(int(chunk_rows * row_bytes), 1 << 16)
    blocks = _csv_blocks(path, header, block_bytes, chunk_rows, options)
    return blocks, int(path.stat().st_size / row_bytes)


def _csv_blocks(
    path: Path,
    header: list[str],
    block_bytes: int,
    chunk_rows: int,
    options: pa_csv.ConvertOptions,
) -> Iterator[pa.Table]:
    """Read the file in line-aligned blocks and parse each with Arrow's multi-threaded parser.

    Arrow's own streaming reader reads ahead without limit when parsing outpaces scoring (over
    200 MB held for a 500 MB file here), so reading is paced by the scoring loop instead, into
    one reused buffer: only one block of text and its parsed rows are alive at a time. Like
    Arrow's default, values must not contain line breaks.
    """
    read_options = pa_csv.ReadOptions(column_names=header)
    buffer = bytearray(block_bytes)
    with path.open("rb") as handle:
        handle.readline()  # the header, already parsed
        kept = 0  # bytes of an unfinished last line carried to the front of the buffer
        while True:
            view = memoryview(buffer)
            read = handle.readinto(view[kept:])
            end = kept + read
            if end == 0:
                return
            cut = buffer.rfind(b"\n", 0, end) + 1 if read else end
            if cut == 0:  # a line longer than the buffer: grow it and read on
                view.release()
                buffer.extend(bytes(len(buffer)))
                kept = end
                continue
            # The parsed table owns its memory, so the buffer can be reused after this.
            table = pa_csv.read_csv(
                pa.py_buffer(view[:cut]), read_options=read_options, convert_options=options
            )
            view.release()
            for offset in range(0, table.num_rows, chunk_rows):
                yield table.slice(offset, chunk_rows)
            del table
            buffer[: end - cut] = buffer[cut:end]
            kept = end - cut
            if not read:
                return


@contextmanager
def _reading_ahead(
    chunks: Iterator[pa.RecordBatch | pa.Table], ahead: int = 3
) -> Iterator[Iterator[pa.RecordBatch | pa.Table]]:
    """Read and parse up to `ahead` chunks on a second thread from now on (Arrow's parsers
    release the GIL): during the model's loading, then while each chunk is scored. Parsing is
    most of batch scoring's work, so this overlaps it with everything else; memory holds at
    most `ahead` + 1 chunks."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-read") as reader:
        # One worker runs the reads in order; an exhausted or failed iterator gives None after.
        pending = deque(reader.submit(next, chunks, None) for _ in range(ahead))

        def ready() -> Iterator[pa.RecordBatch | pa.Table]:
            while (chunk := pending.popleft().result()) is not None:
                pending.append(reader.submit(next, chunks, None))
                yield chunk

        try:
            yield ready()
        finally:
            for future in pending:
                future.cancel()


def _cast(batch: pa.RecordBatch, schema: InputSchema) -> pa.RecordBatch:
    """Parquet keeps the writer's types; cast the model columns to the signature's types."""
    wanted = {c.name: _ARROW_TYPES[c.type] for c in schema.columns}
    arrays = [
        batch.column(name).cast(wanted[name]) if name in wanted else batch.column(name)
        for name in batch.schema.names
    ]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _check_columns(path: Path, present: list[str], schema: InputSchema) -> None:
    missing = [name for name in schema.names if name not in set(present)]
    if missing:
        raise BatchInputError(f"{path} lacks the model's columns {missing}")


def _bytes_per_csv_row(path: Path, sample_bytes: int = 1 << 20) -> float:
    with path.open("rb") as handle:
        sample = handle.read(sample_bytes)
    lines = max(sample.count(b"\n") - 1, 1)  # minus the header line
    return max(len(sample) / lines, 1.0)


def _open_writer(
    output_path: Path, partial: Path, schema: pa.Schema
) -> pq.ParquetWriter | pa_csv.CSVWriter:
    if output_path.suffix.lower() in _PARQUET:
        return pq.ParquetWriter(partial, schema)
    return pa_csv.CSVWriter(partial, schema)


def _name_csv_column(path: Path, message: str) -> str:
    """Arrow names CSV columns by position ("column #3"); say which column that is."""
    match = re.search(r"CSV column #(\d+)", message)
    if not match or path.suffix.lower() not in _CSV:
        return message
    with path.open(newline="") as handle:
        header = next(csv.reader(handle), [])
    index = int(match.group(1))
    name = header[index] if index < len(header) else "?"
    return message.replace(match.group(0), f"{match.group(0)} ('{name}')")


def _print_progress(rows: int, total: int | None) -> None:
    share = f" of ~{total:,} ({min(rows / total, 1):.0%})" if total else ""
    print(f"scored {rows:,} rows{share}", file=sys.stderr, flush=True)
