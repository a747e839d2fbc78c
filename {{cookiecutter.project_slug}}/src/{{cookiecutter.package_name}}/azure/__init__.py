"""Azure Machine Learning: training jobs, endpoints and rollouts (imports the SDK lazily)."""
