"""sweeps: turns a YAML spec into Ray Tune trials of the `gan` training loop, logged to MLflow.

The names below are imported when first used, so that `python -m sweeps.run` can read and refuse a bad spec's
YAML before it imports torch, Ray or MLflow."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sweeps.specfile import Parameter, SpecError, SweepSpec, load_spec, parse_spec

__all__ = ["Parameter", "SpecError", "SweepSpec", "load_spec", "parse_spec"]


def __getattr__(name: str):
    if name in __all__:
        import sweeps.specfile

        return getattr(sweeps.specfile, name)
    raise AttributeError(f"module 'sweeps' has no attribute {name!r}")
