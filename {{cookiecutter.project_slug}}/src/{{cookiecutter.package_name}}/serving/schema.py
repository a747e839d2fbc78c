"""Parse and validate scoring payloads against the model's MLflow input signature.

Every bad request must end as a 4xx response that names the problem, never as a crash or a
prediction on data the model was not trained for. Validation is written for the hot path: it
checks whole columns with set/len/min/max (C loops) and builds numpy arrays once, so a
single-row request costs tens of microseconds here, not milliseconds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_MAX_ROWS = 10_000
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_STRING_CHARS = 1_000

# MLflow column type -> (JSON types accepted, numpy dtype the model was trained on).
# bool is a subclass of int in Python, so types are compared exactly (`type(v) in ...`).
_NUMBER = frozenset({int, float})
_TYPES: dict[str, tuple[frozenset[type], Any]] = {
    "double": (_NUMBER, np.float64),
    "float": (_NUMBER, np.float64),
    "long": (frozenset({int}), np.int64),
    "integer": (frozenset({int}), np.int32),
    "boolean": (frozenset({bool}), np.bool_),
    "string": (frozenset({str}), object),
}
_TYPE_WORDS = {
    "double": "a number",
    "float": "a number",
    "long": "an integer",
    "integer": "an integer",
    "boolean": "true or false",
    "string": "a string",
}
_INT_RANGES = {"long": (-(2**63), 2**63 - 1), "integer": (-(2**31), 2**31 - 1)}
_SPLIT_KEYS = frozenset({"columns", "data", "index"})
PAYLOAD_SHAPES = (
    'expected {"input_data": {"columns": [...], "data": [[...], ...]}} '
    'or a list of records [{"column": value, ...}, ...]'
)


class PayloadError(ValueError):
    """A request the model must not score; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool


def _reject_constant(token: str) -> float:
    raise PayloadError(f"malformed JSON: {token} is not valid JSON; send null for a missing value")


def _limit_from_env(name: str, default: int) -> int:
    """Limits are deployment settings: on Azure they come from the deployment's env vars."""
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True)
class InputSchema:
    """The columns a model accepts, in training order, plus the request size limits."""

    columns: tuple[Column, ...]
    max_rows: int = DEFAULT_MAX_ROWS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_string_chars: int = DEFAULT_MAX_STRING_CHARS

    @classmethod
    def from_mlflow(cls, signature_inputs: Any) -> InputSchema:
        """Build from an MLflow `Schema` object (`Model.get_input_schema()`)."""
        if signature_inputs is None:
            raise ValueError("the model has no input signature with column names to validate")
        return cls.from_signature(json.loads(signature_inputs.to_json()))

    @classmethod
    def from_signature(cls, inputs: list[dict[str, Any]]) -> InputSchema:
        """Build from the `signature.inputs` JSON of an MLmodel file.

        A column is nullable when MLflow marked it optional, which `infer_signature` does when
        the training sample had missing values there: the pipeline has then learnt to impute.
        """
        if not inputs or not all(isinstance(spec, dict) and spec.get("name") for spec in inputs):
            raise ValueError("the model has no input signature with column names to validate")
        columns = []
        for spec in inputs:
            if spec.get("type") not in _TYPES:
                raise ValueError(
                    f"column {spec['name']!r} has type {spec.get('type')}, "
                    "which scoring cannot accept"
                )
            columns.append(Column(spec["name"], spec["type"], not spec.get("required", True)))
        return cls(
            columns=tuple(columns),
            max_rows=_limit_from_env("SCORE_MAX_ROWS", DEFAULT_MAX_ROWS),
            max_body_bytes=_limit_from_env("SCORE_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            max_string_chars=_limit_from_env("SCORE_MAX_STRING_CHARS", DEFAULT_MAX_STRING_CHARS),
        )

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def parse(self, raw: str | bytes) -> pd.DataFrame:
        """Turn a request body into a DataFrame the model can score, or raise PayloadError."""
        return pd.DataFrame(self.parse_columns(raw), copy=False)

    def parse_columns(self, raw: str | bytes) -> dict[str, np.ndarray]:
        """Like `parse`, as typed column arrays in model order (no DataFrame: the fast path
        does not need one, and building it costs more than validating a single row)."""
        if len(raw) > self.max_body_bytes:
            raise PayloadError(
                f"request body is {len(raw):,} bytes; the limit is {self.max_body_bytes:,}", 413
            )
        if not raw or (isinstance(raw, str) and not raw.strip()):
            raise PayloadError(f"empty request body: {PAYLOAD_SHAPES}")
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise PayloadError(f"request body is not UTF-8 text: {error}") from None
        try:
            payload = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as error:
            if isinstance(error, PayloadError):
                raise
            raise PayloadError(f"malformed JSON: {error}") from None
        return self.to_columns(payload)

    def to_columns(self, payload: Any) -> dict[str, np.ndarray]:
        """Validate an already-decoded payload of either accepted shape."""
        if isinstance(payload, list):
            return self._from_records(payload)
        if isinstance(payload, dict):
            if set(payload) != {"input_data"}:
                extra = sorted(set(payload) - {"input_data"}, key=str)
                raise PayloadError(
                    f"unexpected top-level keys {extra}: {PAYLOAD_SHAPES}"
                    if "input_data" in payload
                    else f"missing key 'input_data': {PAYLOAD_SHAPES}"
                )
            return self._from_split(payload["input_data"])
        raise PayloadError(f"payload is a JSON {_json_type(payload)}: {PAYLOAD_SHAPES}")

    def _from_split(self, body: Any) -> dict[str, np.ndarray]:
        if not isinstance(body, dict):
            raise PayloadError(f"'input_data' is a JSON {_json_type(body)}: {PAYLOAD_SHAPES}")
        unknown = set(body) - _SPLIT_KEYS
        if unknown:
            raise PayloadError(f"unexpected keys in 'input_data': {sorted(unknown)}")
        columns, data = body.get("columns"), body.get("data")
        if not isinstance(columns, list) or not all(type(c) is str for c in columns):
            raise PayloadError("'input_data.columns' must be a list of column names (strings)")
        if not isinstance(data, list):
            raise PayloadError("'input_data.data' must be a list of rows, each a list of values")
        self._check_row_count(len(data))
        self._check_columns(columns)
        width = len(columns)
        for number, row in enumerate(data):
            if not isinstance(row, list) or len(row) != width:
                raise PayloadError(
                    f"row {number} of 'input_data.data' must be a list of {width} values, "
                    f"one per column; got {_describe(row)}"
                )
        position = {name: index for index, name in enumerate(columns)}
        return self._columns(lambda name: [row[position[name]] for row in data])

    def _from_records(self, records: list[Any]) -> dict[str, np.ndarray]:
        self._check_row_count(len(records))
        expected = set(self.names)
        for number, record in enumerate(records):
            if not isinstance(record, dict):
                raise PayloadError(f"record {number} is a JSON {_json_type(record)}, not an object")
            if record.keys() != expected:
                try:
                    self._check_columns(list(record))
                except PayloadError as error:
                    raise PayloadError(f"record {number}: {error.message}") from None
        return self._columns(lambda name: [record[name] for record in records])

    def _check_row_count(self, rows: int) -> None:
        if rows == 0:
            raise PayloadError("no rows to score: the input is empty")
        if rows > self.max_rows:
            raise PayloadError(
                f"{rows:,} rows in one request; the limit is {self.max_rows:,} "
                "(split the batch, or use score-batch / a batch endpoint for files)",
                413,
            )

    def _check_columns(self, given: Sequence[str]) -> None:
        expected = self.names
        given_set, expected_set = set(given), set(expected)
        missing = [name for name in expected if name not in given_set]
        extra = [name for name in given if name not in expected_set]
        duplicated = sorted({name for name in given if given.count(name) > 1})
        problems = []
        if missing:
            problems.append(f"missing columns {missing}")
        if extra:
            problems.append(f"unexpected columns {extra}")
        if duplicated:
            problems.append(f"duplicated columns {duplicated}")
        if problems:
            raise PayloadError("; ".join(problems) + f" (the model expects {expected})")

    def _columns(self, column_values: Any) -> dict[str, np.ndarray]:
        """Check each column's values and build the arrays in the model's column order."""
        return {
            column.name: self._column_array(column, column_values(column.name))
            for column in self.columns
        }

    def _column_array(self, column: Column, values: list[Any]) -> np.ndarray:
        allowed, dtype = _TYPES[column.type]
        present = set(map(type, values))
        has_null = type(None) in present
        if has_null:
            present.discard(type(None))
            if not column.nullable:
                row = next(i for i, v in enumerate(values) if v is None)
                raise PayloadError(
                    f"column {column.name!r} has a missing value (null) in row {row}, "
                    "and the model does not accept missing values there"
                )
        if not present <= allowed:
            row, value = next((i, v) for i, v in enumerate(values) if type(v) not in allowed)
            if value is not None:
                raise PayloadError(
                    f"column {column.name!r} must be {_TYPE_WORDS[column.type]}; "
                    f"row {row} has {_describe(value)}"
                )
        if column.type == "string":
            strings = [v for v in values if v is not None] if has_null else values
            longest = max(map(len, strings), default=0)
            if longest > self.max_string_chars:
                raise PayloadError(
                    f"column {column.name!r} has a string of {longest:,} characters; "
                    f"the limit is {self.max_string_chars:,}"
                )
            # Training data read by pandas marks missing text as NaN (None is not "missing" to
            # scikit-learn's imputers), so serve the same representation.
            return _objects(values) if has_null else np.array(values, dtype=object)
        if column.type in _INT_RANGES:
            low, high = _INT_RANGES[column.type]
            integers = [v for v in values if v is not None] if has_null else values
            if integers and (min(integers) < low or max(integers) > high):
                raise PayloadError(f"column {column.name!r} has an integer outside [{low}, {high}]")
        if has_null and column.type != "double" and column.type != "float":
            # pandas reads a missing integer or boolean as NaN in a float/object column: match it.
            return _floats_with_nan(values) if column.type in _INT_RANGES else _objects(values)
        if column.type in _INT_RANGES or column.type == "boolean":
            return np.array(values, dtype=dtype)
        try:
            array = np.array(values, dtype=dtype) if not has_null else _floats_with_nan(values)
        except OverflowError:
            array = np.array([np.inf])
        if np.isinf(array).any():  # JSON like 1e400 parses to infinity: no model saw that
            raise PayloadError(f"column {column.name!r} has a number too large for a double")
        return array


def _floats_with_nan(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _objects(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=object)


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _describe(value: Any) -> str:
    """Short, bounded echo of a bad value: the message must help without reflecting megabytes."""
    text = json.dumps(value) if not isinstance(value, float) or np.isfinite(value) else str(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{_json_type(value)} {text}"
