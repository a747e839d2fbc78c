"""Allow `python -m {{ cookiecutter.package_name }}`, which is how Azure ML components call the steps."""

from .cli import app

app(prog_name="{{ cookiecutter.package_name }}")
