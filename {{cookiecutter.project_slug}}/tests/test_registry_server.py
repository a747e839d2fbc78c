"""The champion story against a real MLflow tracking server that behaves like Azure ML's.

A proxy in front of `mlflow server` answers every model-alias route and the registered-model
tag routes with a bare 403 (as Azure ML has been reported to answer MLflow routes it does not
implement) and refuses registry tag values over 256 characters (Azure's tag limit,
`limits.py`). With `tracking.aliases: auto` the registry's probe finds aliases unsupported, so
the production tag alone marks the champion, and with `tracking.model_tags: off` the deployment
record is a tag of the served version; the gate must still promote a first model and refuse a
worse one.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml
from conftest import write_config
from mlflow import MlflowClient
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.registry import PRODUCTION_TAG

pytestmark = pytest.mark.slow

TAG_VALUE_MAX = 256  # Azure's limit, enforced by the proxy independently of the code
# Registry routes that carry tags: the proxy reads their JSON body.
TAGGED_ROUTES = ("registered-models/", "model-versions/")
# Answered 403 whatever the request: aliases, and the registered model's own tags.
REFUSED_ROUTES = (
    "registered-models/alias",
    "registered-models/set-tag",
    "registered-models/delete-tag",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def too_long_tag(body: dict) -> str | None:
    tags = body.get("tags") or []
    if "key" in body and "value" in body:
        tags = [*tags, {"key": body["key"], "value": body["value"]}]
    for tag in tags:
        if len(str(tag.get("value", ""))) > TAG_VALUE_MAX:
            return str(tag.get("key"))
    return None


class AzureLikeProxy(BaseHTTPRequestHandler):
    upstream = ""
    seen: list[str] = []  # noqa: RUF012 (one proxy per test session)

    def log_message(self, *args) -> None:  # quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        self.seen.append(f"{self.command} {self.path}")
        if any(route in self.path for route in REFUSED_ROUTES):
            return self._reply(403, b"Forbidden", "text/plain")
        if self.command == "POST" and any(r in self.path for r in TAGGED_ROUTES) and data:
            key = too_long_tag(json.loads(data))
            if key is not None:
                error = {
                    "error_code": "INVALID_PARAMETER_VALUE",
                    "message": f"tag '{key}' is longer than {TAG_VALUE_MAX} characters",
                }
                return self._reply(400, json.dumps(error).encode(), "application/json")
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in {"host", "content-length"}
        }
        response = requests.request(
            self.command, self.upstream + self.path, data=data, headers=headers, timeout=60
        )
        self._reply(
            response.status_code,
            response.content,
            response.headers.get("Content-Type", "application/json"),
        )

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = _handle


@pytest.fixture(scope="module")
def azure_like_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("server")
    port = free_port()
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    server = subprocess.Popen(
        [
            str(mlflow_bin),
            "server",
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--default-artifact-root",
            (folder / "artifacts").as_uri(),
            "--no-serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=(folder / "server.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    upstream = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{upstream}/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((folder / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        AzureLikeProxy.upstream = upstream
        proxy = ThreadingHTTPServer(("127.0.0.1", 0), AzureLikeProxy)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{proxy.server_address[1]}"
        proxy.shutdown()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_first_model_promoted_worse_refused_behind_a_403_alias_proxy(
    project: Path, azure_like_server: str
) -> None:
    config_path = project / "config" / "pipeline.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["tracking"]["uri"] = azure_like_server
    config["tracking"]["aliases"] = "auto"
    config["tracking"]["model_tags"] = "off"  # as `auto` decides on azureml://
    write_config(project, config)
    runner = CliRunner()

    first = runner.invoke(app, ["run", "--config", str(config_path)])
    assert first.exit_code == 0, first.output
    assert "v1 promoted to champion" in first.output
    client = MlflowClient(tracking_uri=azure_like_server, registry_uri=azure_like_server)
    name = config["tracking"]["model_name"]
    assert client.get_model_version(name, "1").tags[PRODUCTION_TAG] == "true"

    worse = runner.invoke(app, ["run", "--config", str(config_path), "--model-family", "dummy"])
    assert worse.exit_code == 0, worse.output
    assert "v2 registered, not promoted" in worse.output
    tagged = [
        v.version
        for v in client.search_model_versions(f"name = '{name}'")
        if v.tags.get(PRODUCTION_TAG) == "true"
    ]
    assert tagged == ["1"]  # the champion is unchanged
    # The deployment record is kept on the served version, within the limit of every tag.
    assert (
        json.loads(client.get_model_version(name, "1").tags["deployment.local"])["version"] == "1"
    )
    assert "deployment.local" not in client.get_model_version(name, "2").tags
    assert all(
        len(value) <= TAG_VALUE_MAX
        for version in client.search_model_versions(f"name = '{name}'")
        for value in version.tags.values()
    )
    assert client.get_registered_model(name).tags == {}  # the refused route was never needed
    assert any("registered-models/alias" in line for line in AzureLikeProxy.seen)  # probed
