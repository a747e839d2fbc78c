"""Start azureml-inference-server-http bound to one interface.

azmlinfsrv 1.5.1 hard-codes 0.0.0.0, which on a laptop exposes the model to the whole network.
This launcher sets the host, then hands every other argument to the server's own entry point,
so the server, its workers and the routes are exactly the ones Azure runs.
Usage: python server.py --host 127.0.0.1 [azmlinfsrv arguments...]
"""

from __future__ import annotations

import argparse
import sys

from azureml_inference_server_http import amlserver


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--host", default="127.0.0.1")
    known, rest = parser.parse_known_args(argv)
    amlserver.DEFAULT_HOST = known.host  # read by amlserver.run() when it starts gunicorn
    sys.argv = ["azmlinfsrv", *rest]
    amlserver.run()


if __name__ == "__main__":
    main(sys.argv[1:])
