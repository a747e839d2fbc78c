"""The scoring script in-process: Azure's model layout, the init()/run() contract, no warnings."""

from __future__ import annotations

import importlib.util
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from serving_fixtures import make_frame, save_model, save_regressor, train_model

from {{ cookiecutter.package_name }}.serving import score as score_module
from {{ cookiecutter.package_name }}.serving.fastpath import compile_fast_path, verified
from {{ cookiecutter.package_name }}.serving.scoring import (
    EXPLAIN_UNAVAILABLE,
    Model,
    find_model_dir,
)

SCORE_PY = Path(score_module.__file__)


@pytest.fixture(scope="module")
def azure_model_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """AZUREML_MODEL_DIR as Azure mounts it: <name>/<version>/ with the model folder inside."""
    version_dir = tmp_path_factory.mktemp("azureml-models") / "churn" / "3"
    pipeline = save_model(version_dir / "model")
    return version_dir, pipeline


def records(rows: int, seed: int) -> list[dict]:
    return json.loads(make_frame(rows, seed=seed).to_json(orient="records"))


def test_model_folder_is_found_directly_or_one_level_down(azure_model_dir, tmp_path) -> None:
    version_dir, _ = azure_model_dir
    assert find_model_dir(version_dir) == version_dir / "model"
    assert find_model_dir(version_dir / "model") == version_dir / "model"
    with pytest.raises(FileNotFoundError, match="no MLflow model"):
        find_model_dir(tmp_path)
    for name in ("a", "b"):
        shutil.copytree(version_dir / "model", tmp_path / name)
    with pytest.raises(FileNotFoundError, match="several MLflow models"):
        find_model_dir(tmp_path)


def test_scores_match_the_pipeline_and_the_hot_path_does_not_warn(azure_model_dir) -> None:
    version_dir, pipeline = azure_model_dir
    model = Model.load(version_dir)
    assert model.fast_predict is not None  # so this compares the fast path with the pipeline
    frame = make_frame(200, seed=7)  # has missing numbers and missing text
    body = json.dumps(
        {"input_data": {"columns": list(frame.columns), "data": frame.values.tolist()}}
    ).replace("NaN", "null")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning on every request floods the logs
        status, result = model.score(body)
        single_status, single = model.score(json.dumps(records(1, seed=7)))
    assert status == 200 and single_status == 200
    assert result["predictions"] == pipeline.predict(frame).tolist()
    assert single["predictions"] == result["predictions"][:1]
    assert 0 < sum(result["predictions"]) < len(frame)  # both classes: not a constant answer


def test_unknown_categories_are_scored_not_crashed(azure_model_dir) -> None:
    version_dir, _ = azure_model_dir
    record = {**records(1, seed=1)[0], "contract": "lifetime"}
    status, result = Model.load(version_dir).score(json.dumps([record]))
    assert status == 200 and result["predictions"] in ([0], [1])


def load_score_script_as_azmlinfsrv_does():
    """azmlinfsrv imports the entry script by path under the name `entry_module`."""
    spec = importlib.util.spec_from_file_location("entry_module", SCORE_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_score_script_contract(azure_model_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    version_dir, pipeline = azure_model_dir
    script = load_score_script_as_azmlinfsrv_does()
    monkeypatch.delenv("AZUREML_MODEL_DIR", raising=False)
    with pytest.raises(RuntimeError, match="AZUREML_MODEL_DIR is not set"):
        script.init()
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(version_dir))
    script.init()
    app = Flask(__name__)
    body = json.dumps(records(3, seed=2))
    with app.test_request_context("/score", method="POST", data=body, content_type="text/plain"):
        from flask import request

        result = script.run(request)
    # A plain dict: the server answers 200 with it as JSON.
    assert result == {"predictions": pipeline.predict(make_frame(3, seed=2)).tolist()}
    with app.test_request_context("/score", method="POST", data="[{}]"):
        from flask import request

        response = script.run(request)
    assert response.status_code == 400
    assert "missing columns" in json.loads(response.get_data())["message"]
    with app.test_request_context("/score", method="GET"):
        from flask import request

        assert script.run(request).status_code == 405


def test_fast_path_is_refused_for_steps_it_does_not_replay() -> None:
    from sklearn.preprocessing import FunctionTransformer

    frame = make_frame(300, seed=5)
    pipeline = train_model(frame)
    assert compile_fast_path(pipeline) is not None
    numeric = pipeline.named_steps["preprocess"].transformers_[0][1]
    numeric.steps.insert(0, ("log", FunctionTransformer(np.log1p)))
    assert compile_fast_path(pipeline) is None


def test_fast_path_that_disagrees_with_the_pipeline_fails_verification() -> None:
    frame = make_frame(300, seed=6)
    pipeline = train_model(frame)
    fast = compile_fast_path(pipeline)
    assert verified(pipeline, fast, frame)
    scaler = pipeline.named_steps["preprocess"].transformers_[0][1].steps[-1][1]
    scaler.mean_ = scaler.mean_ + 5.0  # the pipeline changes; the compiled path does not
    assert not verified(pipeline, fast, frame)


def test_a_linear_regressor_answers_floats_on_the_fast_path_and_refuses_what_it_cannot(
    tmp_path,
) -> None:
    """No trees: the replayed preprocessing feeds the ridge model; explain and bad rows are
    400s that say why."""
    model, X = save_regressor(tmp_path / "model", family="linear_regression")
    loaded = Model.load(tmp_path / "model")
    assert loaded.regressor and loaded.fast_predict is not None
    assert loaded.fast_predict.trees is None
    body = X.head(5).to_json(orient="records")
    status, answer = loaded.score(body)
    assert status == 200 and list(answer) == ["predictions"]
    assert all(type(prediction) is float for prediction in answer["predictions"])
    assert answer["predictions"] == pytest.approx(model.predict(X.head(5)).tolist(), rel=1e-9)
    assert loaded.score(body, explain=True) == (400, {"message": EXPLAIN_UNAVAILABLE})
    bad = [{**json.loads(body)[0], "trip_km": "far"}]
    status, answer = loaded.score(json.dumps(bad))
    assert status == 400 and "'trip_km' must be a number" in answer["message"]
