"""The drift reference: a sample of the training rows and the model's predictions on them,
stored inside the model folder so every registered version carries its own baseline.

The training step calls `save_reference` once; `monitor drift` reads it back from the
champion's artifacts. Keeping it in the model folder means no second store can fall out of
step with the registry, locally or on Azure ML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

REFERENCE_FILE = "drift_reference.parquet"
PREDICTION_COLUMN = "_prediction"


def save_reference(
    features: pd.DataFrame, model: Any, model_dir: Path, rows: int, seed: int
) -> Path:
    """Write up to `rows` training rows (a seeded sample above that) with their predictions:
    class labels as text, a regressor's numbers as floats (drift tests them as numbers)."""
    from sklearn.base import is_regressor  # here: serving imports this module's names only

    sample = features if len(features) <= rows else features.sample(rows, random_state=seed)
    reference = sample.reset_index(drop=True)
    predicted = pd.Series(model.predict(sample))
    reference[PREDICTION_COLUMN] = (
        predicted.astype(float) if is_regressor(model) else predicted.astype(str)
    ).to_numpy()
    path = model_dir / REFERENCE_FILE
    reference.to_parquet(path, index=False)
    return path


def load_reference(model_dir: Path) -> pd.DataFrame:
    path = model_dir / REFERENCE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: this model was trained before drift references were stored; "
            "retrain it with `run` to monitor it"
        )
    return pd.read_parquet(path)
