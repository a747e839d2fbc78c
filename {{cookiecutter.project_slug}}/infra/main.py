"""cdktf entry point (`cdktf synth` runs it): one stack per environment in settings.json."""

from mlops_infra.app import build_app, configs_from_settings

if __name__ == "__main__":
    build_app(configs_from_settings()).synth()
