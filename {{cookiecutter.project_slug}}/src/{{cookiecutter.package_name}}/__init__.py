"""Train, gate, register and serve this project's model, locally or on Azure Machine Learning.

The project's own name and description live in README.md and pyproject.toml (free text is kept
out of Python source, where quotes and backslashes would need escaping).
"""

__version__ = "0.1.0"
