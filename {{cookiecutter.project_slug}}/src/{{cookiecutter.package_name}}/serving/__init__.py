"""Serving: the Azure online-endpoint scoring script, the local server and batch scoring.

`score.py` is the one scoring code path: Azure runs it, and `serve` runs it locally through the
same server (azureml-inference-server-http), so local behaviour is cloud behaviour.
"""
