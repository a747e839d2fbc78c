"""Azure Machine Learning: the same step commands as locally, run as an Azure ML pipeline.

Nothing here is imported by the local pipeline or by `--help`: `azure-ai-ml` is imported inside
the functions that build or submit Azure objects.
"""
