"""sweeps: turns a YAML spec into Ray Tune trials of the `gan` training loop, logged to MLflow."""

from sweeps.specfile import Parameter, SpecError, SweepSpec, load_spec, parse_spec

__all__ = ["Parameter", "SpecError", "SweepSpec", "load_spec", "parse_spec"]
