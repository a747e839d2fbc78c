"""The one exception type the CLI turns into a clean message instead of a stack trace."""


class PipelineError(Exception):
    """Bad input or a refused operation: the message names the input and how to fix it."""
