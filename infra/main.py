"""cdktf entry point for the platform bootstrap: `cdktf synth` runs it (see README.md)."""

from platform_bootstrap.config import load_config
from platform_bootstrap.stack import build_app

if __name__ == "__main__":
    build_app(load_config()).synth()
