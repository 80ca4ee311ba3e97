"""Params read back exactly: every param of every trial of every shipped spec, at every scale, decodes to
the value logged and rebuilds the same training config; and any JSON-shaped value round-trips."""

from pathlib import Path

import pytest
import yaml
from hypothesis import given, strategies as st

from gan.config import Config, flatten, merge_dotted
from record import params as typed
from sweeps.specfile import load_spec

SPECS = sorted(Path(__file__).resolve().parents[2].joinpath("search_spaces").glob("*.yaml"))


def _scales(path: Path) -> list:
    return [None, *(yaml.safe_load(path.read_text()).get("scales") or {})]


def _plain(v):
    return [_plain(x) for x in v] if isinstance(v, (list, tuple)) else v


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_every_param_of_every_shipped_spec_reads_back_as_logged_and_rebuilds_its_config(path):
    for scale in _scales(path):
        spec = load_spec(path, scale)
        trials = (spec.trial_configs() or spec.corners() or [{}])[:200]
        for swept in trials:
            cfg = spec.config_for(swept).resolve()
            logged = flatten(cfg.to_dict())
            back = {k: typed.decode(typed.encode(v)) for k, v in logged.items()}
            assert back == {k: _plain(v) for k, v in logged.items()}, (path.name, scale, swept)
            assert all(type(back[k]) is type(_plain(v)) for k, v in logged.items())  # 1 stays int, 1.0 float
            assert Config.from_dict(merge_dotted({}, back)).resolve() == cfg


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=12)


@given(json_values)
def test_any_json_value_round_trips_and_text_that_looks_like_a_number_stays_text(value):
    assert typed.decode(typed.encode(value)) == value
    if isinstance(value, str):
        assert isinstance(typed.decode(typed.encode(value)), str)


def test_names_are_written_bare_and_text_json_would_misread_is_quoted():
    assert typed.encode("fashion_mnist") == "fashion_mnist" and typed.encode((0.5, 0.999)) == "[0.5, 0.999]"
    assert typed.encode("8") == '"8"' and typed.decode('"8"') == "8" and typed.decode("8") == 8
    assert typed.decode("(0.5, 0.999)") == "(0.5, 0.999)"  # text MLflow holds from elsewhere reads as itself
    with pytest.raises(ValueError, match="finite"):
        typed.encode(float("nan"))
