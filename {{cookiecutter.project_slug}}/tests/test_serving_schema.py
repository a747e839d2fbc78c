"""Payload validation: both Azure payload shapes, and a named 4xx for every kind of bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.serving.schema import Column, InputSchema, PayloadError

SCHEMA = InputSchema(
    columns=(
        Column("tenure", "double", nullable=False),
        Column("charges", "double", nullable=True),
        Column("calls", "long", nullable=False),
        Column("contract", "string", nullable=False),
        Column("method", "string", nullable=True),
        Column("paperless", "boolean", nullable=False),
    ),
    max_rows=5,
    max_body_bytes=4_000,
    max_string_chars=20,
)
NAMES = SCHEMA.names
ROW = [12.5, None, 3, "monthly", None, True]
RECORD = dict(zip(NAMES, ROW, strict=True))


def split(*rows: list, columns: list[str] = NAMES) -> str:
    return json.dumps({"input_data": {"columns": columns, "data": list(rows)}})


def rejection(raw: str | bytes) -> PayloadError:
    with pytest.raises(PayloadError) as caught:
        SCHEMA.parse(raw)
    return caught.value


def test_both_payload_shapes_give_the_same_typed_frame() -> None:
    from_split = SCHEMA.parse(split(ROW, [1, 2.5, 4, "yearly", "card", False]))
    from_records = SCHEMA.parse(
        json.dumps([RECORD, dict(zip(NAMES, [1, 2.5, 4, "yearly", "card", False], strict=True))])
    )
    pd.testing.assert_frame_equal(from_split, from_records)
    assert list(from_split.columns) == NAMES
    assert from_split.dtypes.to_dict() == {
        "tenure": np.float64,
        "charges": np.float64,
        "calls": np.int64,
        "contract": object,
        "method": object,
        "paperless": np.bool_,
    }
    # Missing values arrive as NaN, the marker scikit-learn's imputers look for (not None).
    assert math.isnan(from_split.loc[0, "charges"]) and math.isnan(from_split.loc[0, "method"])


def test_split_columns_may_come_in_any_order() -> None:
    reordered = list(reversed(NAMES))
    frame = SCHEMA.parse(split([RECORD[name] for name in reordered], columns=reordered))
    assert list(frame.columns) == NAMES
    assert frame.loc[0, "contract"] == "monthly"


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        ("", 400, ["empty request body"]),
        ("{not json", 400, ["malformed JSON"]),
        (b"\xff\xfe[]", 400, ["not UTF-8"]),
        ('[{"tenure": NaN}]', 400, ["NaN is not valid JSON"]),
        ("42", 400, ["payload is a JSON number", "input_data"]),
        ('{"inputs": []}', 400, ["missing key 'input_data'"]),
        ('{"input_data": {"columns": [], "data": []}, "x": 1}', 400, ["unexpected top-level", "x"]),
        ('{"input_data": [[1]]}', 400, ["'input_data' is a JSON array"]),
        ("[]", 400, ["no rows to score"]),
        (split(), 400, ["no rows to score"]),
        (split(*[ROW] * 6), 413, ["6 rows", "limit is 5"]),
        (json.dumps([RECORD] * 6), 413, ["6 rows", "limit is 5"]),
        ("[" + " " * 5000 + "]", 413, ["limit is 4,000"]),
        (split(ROW[:-1], columns=NAMES[:-1]), 400, ["missing columns ['paperless']"]),
        (split([*ROW, 1], columns=[*NAMES, "zip"]), 400, ["unexpected columns ['zip']"]),
        (split([*ROW, 1], columns=[*NAMES, "calls"]), 400, ["duplicated columns ['calls']"]),
        (json.dumps([{**RECORD, "zip": 1}]), 400, ["record 0", "unexpected columns ['zip']"]),
        (json.dumps([RECORD, {"tenure": 1}]), 400, ["record 1", "missing columns"]),
        (json.dumps([RECORD, 7]), 400, ["record 1 is a JSON number"]),
        (split(ROW, ROW[:3]), 400, ["row 1", "6 values"]),
        (split(ROW, "abc"), 400, ["row 1", "6 values"]),
        (json.dumps([{**RECORD, "tenure": "12"}]), 400, ["'tenure' must be a number", '"12"']),
        (json.dumps([{**RECORD, "tenure": True}]), 400, ["'tenure' must be a number", "boolean"]),
        (json.dumps([{**RECORD, "calls": 2.5}]), 400, ["'calls' must be an integer"]),
        (json.dumps([{**RECORD, "calls": 2**70}]), 400, ["'calls' has an integer outside"]),
        (json.dumps([{**RECORD, "charges": 10**400}]), 400, ["'charges'", "too large"]),
        (json.dumps([RECORD]).replace("12.5", "1e400"), 400, ["'tenure'", "too large"]),
        (json.dumps([{**RECORD, "contract": 3}]), 400, ["'contract' must be a string"]),
        (json.dumps([{**RECORD, "contract": ["a"]}]), 400, ["'contract' must be a string"]),
        (json.dumps([{**RECORD, "paperless": "yes"}]), 400, ["'paperless' must be true or false"]),
        (json.dumps([{**RECORD, "tenure": None}]), 400, ["'tenure' has a missing value"]),
        (json.dumps([{**RECORD, "contract": "x" * 21}]), 400, ["21 characters", "limit is 20"]),
        ('{"input_data": {"columns": "tenure", "data": []}}', 400, ["list of column names"]),
        ('{"input_data": {"columns": [], "data": {}}}', 400, ["'input_data.data' must be"]),
        ('{"input_data": {"columns": [], "data": [], "rows": 1}}', 400, ["unexpected keys"]),
    ],
)
def test_bad_payloads_are_rejected_with_a_message_naming_the_problem(
    raw: str | bytes, status: int, words: list[str]
) -> None:
    error = rejection(raw)
    assert error.status == status
    for word in words:
        assert word in error.message


def test_an_oversized_value_is_not_echoed_back_in_full() -> None:
    error = rejection(json.dumps([{**RECORD, "tenure": "y" * 3000}]))
    assert len(error.message) < 200


def test_limits_come_from_the_deployment_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.types import ColSpec, Schema

    monkeypatch.setenv("SCORE_MAX_ROWS", "7")
    schema = InputSchema.from_mlflow(Schema([ColSpec("double", "x", required=False)]))
    assert schema.max_rows == 7
    assert schema.columns == (Column("x", "double", nullable=True),)


def test_a_signature_without_column_names_is_refused_at_load_time() -> None:
    from mlflow.types import Schema, TensorSpec

    with pytest.raises(ValueError, match="no input signature with column names"):
        InputSchema.from_mlflow(Schema([TensorSpec(np.dtype("float64"), (-1, 3))]))
