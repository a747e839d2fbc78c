"""Load an MLflow model folder once and score validated requests against it.

Shared by the online scoring script (`score.py`) and batch scoring (`batch.py`), so both apply
the same model, the same column order and the same missing-value representation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .schema import InputSchema, PayloadError

logger = logging.getLogger(__name__)


def find_model_dir(root: Path) -> Path:
    """Return the MLflow model folder under `root`.

    On Azure, AZUREML_MODEL_DIR is `.../azureml-models/<name>/<version>` and a model registered
    from a folder sits one level below it (`.../<version>/<folder>/MLmodel`); locally `serve`
    points it straight at the folder. Accept both, and nothing ambiguous.
    """
    if (root / "MLmodel").is_file():
        return root
    candidates = sorted(path.parent for path in root.glob("*/MLmodel"))
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise FileNotFoundError(f"no MLflow model (an MLmodel file) in {root} or one level below")
    raise FileNotFoundError(f"several MLflow models under {root}: {[str(c) for c in candidates]}")


@dataclass
class Model:
    """A loaded model plus the input schema its requests are validated against."""

    predict_fn: Any
    schema: InputSchema
    source: Path

    @classmethod
    def load(cls, model_dir: Path) -> Model:
        """Load the model in `model_dir` (or one level below, as Azure mounts it).

        The raw scikit-learn model when there is one: pyfunc's own schema enforcement
        would repeat our validation on every call, at several times the cost."""
        from mlflow.models import Model as MLmodel

        model_dir = find_model_dir(model_dir)
        meta = MLmodel.load(str(model_dir / "MLmodel"))
        schema = InputSchema.from_mlflow(meta.get_input_schema())
        if "sklearn" in meta.flavors:
            import mlflow.sklearn

            predict_fn = mlflow.sklearn.load_model(str(model_dir)).predict
        else:
            import mlflow.pyfunc

            predict_fn = mlflow.pyfunc.load_model(str(model_dir)).predict
        logger.info("Loaded model from %s (%d input columns)", model_dir, len(schema.columns))
        return cls(predict_fn=predict_fn, schema=schema, source=model_dir)

    def predict(self, frame: pd.DataFrame) -> list[Any]:
        """Predict on a frame already in schema order; values the model itself rejects
        (e.g. an unknown category for a strict encoder) are the client's error, not ours."""
        try:
            predictions = self.predict_fn(frame)
        except ValueError as error:
            raise PayloadError(f"the model could not score this input: {error}") from None
        return predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)

    def score(self, raw: str | bytes) -> tuple[int, dict[str, Any]]:
        """Score one request body: (200, predictions) or (4xx, a message naming the problem)."""
        try:
            return 200, {"predictions": self.predict(self.schema.parse(raw))}
        except PayloadError as error:
            return error.status, {"message": error.message}
