"""A fuzzer for specs: every shipped spec and a tiny synthetic one, mutated in their values, keys, nesting,
YAML aliases, tags and encoding. A spec either parses, or is refused with a SpecError that names the
file (and where it can, the key and the line): never another exception, never slow.

`GANSWEEP_FUZZ_EXAMPLES` sets the number of mutations (CI: the default below)."""

from __future__ import annotations

import math
import os
import time

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sweeps.specfile import SpecError, parse_spec
from tests.helpers import REPO

SHIPPED = sorted((REPO / "search_spaces").glob("*.yaml"))
TINY = """\
name: tiny
base:
  data: {name: fashion_mnist, num_images: 100}
  model: {arch: dcgan, latent_dim: 8, g_width: 8, d_width: 8}
  train: {iterations: 20, eval_every: 10, batch_size: 16}
parameters:
  optim.g_lr: {values: [0.0002, 0.002]}
seeds: {initial: 2, max: 3}
scales:
  small: {seeds: [0, 1]}
"""
SOURCES = [p.read_text() for p in SHIPPED] + [TINY]
EXAMPLES = int(os.environ.get("GANSWEEP_FUZZ_EXAMPLES", "150"))

numbers = st.one_of(st.integers(-10**25, 10**25), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, -1, 1, 2**63, 10**21, 1e308, -0.0, float("nan"), float("inf")]))
scalars = st.one_of(numbers, st.booleans(), st.none(), st.text(max_size=20),
                    st.sampled_from(["grid", "optuna", "asha", "race", "fid", "none", "min", "max", "values"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=12)
SNIPPETS = [
    "bomb: &a [1,1,1,1,1,1,1,1]\nb2: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nb3: &c [*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "b4: &d [*c,*c,*c,*c,*c,*c,*c,*c]\nb5: &e [*d,*d,*d,*d,*d,*d,*d,*d]\nb6: &f [*e,*e,*e,*e,*e,*e,*e,*e]\n",
    "loop: &l [*l]\n", "obj: !!python/object/apply:os.system ['true']\n", "t: !!binary aGVsbG8=\n",
    "d: " + "[" * 3000 + "]" * 3000 + "\n", "m: {? [a, b] : 1}\n", "x: !custom 3\n", "\ufeffbom: 1\n", "tab:\t1\n",
]


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, path + (i,))


def _set(node, path, value):
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def _delete(node, path):
    for p in path[:-1]:
        node = node[p]
    del node[path[-1]]


@st.composite
def mutated(draw):
    text = draw(st.sampled_from(SOURCES))
    raw = yaml.safe_load(text)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(raw) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        how = draw(st.sampled_from(["value", "value", "delete", "key", "wrap"]))
        try:
            if how == "value":
                _set(raw, path, draw(values))
            elif how == "delete":
                _delete(raw, path)
            elif how == "key":
                parent = raw
                for p in path[:-1]:
                    parent = parent[p]
                if isinstance(parent, dict):
                    parent[draw(st.text(max_size=10))] = draw(values)
            else:  # nest the value one level deeper, or flatten a list to its first item
                old = raw
                for p in path:
                    old = old[p]
                _set(
                    raw,
                    path,
                    draw(st.sampled_from([[old], {"values": old}, old[0] if isinstance(old, list) and old else old])),
                )
        except (KeyError, IndexError, TypeError):
            pass
    out = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)
    if draw(st.booleans()):
        out = draw(st.sampled_from(SNIPPETS)) + out
    if draw(st.integers(0, 9)) == 0:  # a byte-level edit: a character dropped, doubled or replaced
        i = draw(st.integers(0, max(len(out) - 1, 0)))
        out = out[:i] + draw(st.sampled_from(["", ":", "&a ", "*a", "\x00", "- ", "  ", "{", "\u2028"])) + out[i + 1:]
    scales = list((raw.get("scales") or {}) if isinstance(raw, dict) and isinstance(raw.get("scales"), dict) else {})
    scale = draw(st.sampled_from([None, *[s for s in scales if isinstance(s, str)][:3]]))
    return out, scale


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(mutated())
@example(("loop: &l [*l]\n" + TINY, None))  # a recursive alias: was a RecursionError traceback
@example((TINY.replace("[0.0002, 0.002]", "[.nan, 0.002]"), None))
@example((TINY.replace("small: {seeds: [0, 1]}", "small: {seedz: [0, 1]}"), None))  # a typo in a scale not run
@example((TINY + "published:\n  source: s\n  results:\n    - {params: {optim.g_lr: 0.002}, metric: [], value: 5}\n",
          None))  # a published metric that is a list: was a TypeError traceback
def test_a_mutated_spec_parses_or_is_refused_with_a_spec_error_naming_the_file(case):
    text, scale = case
    start = time.perf_counter()
    try:
        parse_spec(text, source="fuzzed.yaml", scale=scale)
    except SpecError as e:
        assert str(e).startswith(("fuzzed.yaml", "in scale")), str(e)
        assert "fuzzed.yaml" in str(e)
    assert time.perf_counter() - start < 10


def test_the_regression_cases_are_refused_where_they_stand():
    with pytest.raises(SpecError, match="recursive alias"):
        parse_spec("loop: &l [*l]\n" + TINY, source="f.yaml")
    with pytest.raises(SpecError, match=r"`parameters.optim.g_lr.values.0`: is nan, but must be a finite number"):
        parse_spec(TINY.replace("[0.0002, 0.002]", "[.nan, 0.002]"), source="f.yaml")
    with pytest.raises(SpecError, match=r"`scales.small.seedz`: cannot be overridden by a scale"):
        parse_spec(TINY.replace("small: {seeds: [0, 1]}", "small: {seedz: [0, 1]}"), source="f.yaml")
    bomb = SNIPPETS[0] + "b7: &g [*f,*f,*f,*f,*f,*f,*f,*f]\n" + TINY  # 8^7 = 2 million values in 300 bytes
    start = time.perf_counter()
    with pytest.raises(SpecError, match="more than 100000 values"):
        parse_spec(bomb, source="f.yaml")
    assert time.perf_counter() - start < 2
    with pytest.raises(SpecError, match="plans 179997 trials"):
        parse_spec(
            TINY.replace("[0.0002, 0.002]", "[" + ", ".join(str(i) for i in range(1, 60000)) + "]"), source="f.yaml"
        )
    assert not math.isnan(parse_spec(TINY, source="f.yaml").seeds[0])
