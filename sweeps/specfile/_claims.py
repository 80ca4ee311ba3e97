"""A spec's `claims:`: what a study (or the user) expects before the sweep runs (record.claims), each checked
against the sweep's own factors, levels and metrics, and refused with the file, key path and line."""

from __future__ import annotations

import re

from gan.metrics import OUTPUTS, TRAINING
from record.claims import DIRECTIONS, INTERACTION, LEVELS, SIZES, TREND, Claim
from record.design import BUDGET, level_label
from sweeps.specfile._yaml import Ctx

__all__ = ["CLAIM_KEYS", "parse_claims"]

COMPARISONS = {LEVELS: "compare", TREND: "trend", INTERACTION: "interaction"}  # kind -> its key in the spec
CLAIM_KEYS = ("id", "source", "says", *COMPARISONS.values(), "expect", "metric", "published")
PUBLISHED_CLAIM_KEYS = (*SIZES, "extractor", "dataset", "not_comparable")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SHAPE = ("a list of claims, each {id, source, says, one of compare: {parameter, level, against, at} | trend: "
          "{parameter, at} | interaction: {parameters: [a, b], levels: [la, lb]}, expect: lower | higher, "
          "metric, published: {ratio | difference, extractor, dataset, not_comparable}}")


def parse_claims(ctx: Ctx, raw, parameters, metric: str, computed: tuple[str, ...] | None, extractor: str,
                 dataset: str, budget_plans: tuple[str, ...] = ()) -> tuple[Claim, ...]:
    """`claims:` against the sweep's `parameters` (grid or choice levels) and its budget plans (`budget`, a
    factor when there are two or more), the metrics its evaluation computes (`computed`: the producers; None
    for the user's own function, which reports its own), and its extractor and dataset (to say whether a
    published size can be set beside ours)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ctx.fail(("claims",), f"must be {_SHAPE}.")
    levels = {p.key: [level_label(v) for v in p.values] for p in parameters if p.values is not None}
    numeric = {p.key for p in parameters if p.values is not None and not p.variant
               and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p.values)}
    baselines = {p.key: level_label(p.values[0] if p.baseline is None else p.baseline)
                 for p in parameters if p.values is not None}
    if len(budget_plans) > 1:
        levels[BUDGET], baselines[BUDGET] = list(budget_plans), budget_plans[0]
    out, seen = [], set()
    for i, entry in enumerate(raw):
        where = ("claims", i)
        if not isinstance(entry, dict):
            raise ctx.fail(where, f"must be a mapping: {_SHAPE}.")
        bad = sorted(set(entry) - set(CLAIM_KEYS))
        if bad:
            raise ctx.fail(where + (bad[0],), f"unknown key; allowed: {', '.join(CLAIM_KEYS)}.")
        cid = entry.get("id")
        if not isinstance(cid, str) or not _ID.match(cid):
            raise ctx.fail(where + ("id",), f"is {cid!r}, but must be a short name of letters, digits, '.', '_' or "
                                            "'-' (it names the claim in the report).")
        if cid in seen:
            raise ctx.fail(where + ("id",), f"{cid!r} is already the id of an earlier claim.")
        seen.add(cid)
        for key in ("source", "says"):
            if (key == "source" or key in entry) and not (isinstance(entry.get(key), str) and entry[key].strip()):
                raise ctx.fail(where + (key,), "must be a non-empty string"
                               + (" (the study's file and section, or `ours`)." if key == "source" else "."))
        kinds = [k for k, key in COMPARISONS.items() if key in entry]
        if len(kinds) != 1:
            raise ctx.fail(where, "needs exactly one of `compare`, `trend` or `interaction`"
                                  + (f", not {len(kinds)}." if kinds else "."))
        kind = kinds[0]
        expect = entry.get("expect")
        if expect not in DIRECTIONS:
            raise ctx.fail(where + ("expect",), f"is {expect!r}, but must be one of {', '.join(DIRECTIONS)}: the "
                                                "sign of the comparison on the metric.")
        claim_metric = entry.get("metric", metric)
        known = sorted(n for n, o in OUTPUTS.items() if o.direction)
        if computed is None:  # the user's own function reports its metrics: the sweep's, or a gansweep metric
            if claim_metric != metric and claim_metric not in known:
                raise ctx.fail(where + ("metric",), f"is {claim_metric!r}, but must be the sweep's metric {metric!r} "
                                                    f"or one of {', '.join(known)}.")
        elif not isinstance(claim_metric, str) or claim_metric not in known:
            raise ctx.fail(where + ("metric",), f"is {claim_metric!r}, but must be one of {', '.join(known)}.")
        elif OUTPUTS[claim_metric].producer not in (*computed, TRAINING):
            raise ctx.fail(where + ("metric",), f"{claim_metric!r} is not computed: add "
                                                f"`{OUTPUTS[claim_metric].producer}` to `evaluation.metrics` "
                                                f"(now {list(computed)}).")
        fields = _comparison(ctx, where, kind, entry[COMPARISONS[kind]], levels, numeric, baselines)
        published, published_as, not_comparable = _published(ctx, where, entry.get("published"), extractor, dataset)
        out.append(Claim(id=cid, source=entry["source"].strip(), kind=kind, expect=expect,
                         statement=(entry.get("says") or "").strip(), metric=claim_metric, published=published,
                         published_as=published_as, not_comparable=not_comparable, **fields))
    return tuple(out)


def _factor(ctx, where, key, levels) -> str:
    if not isinstance(key, str) or key not in levels:
        allowed = ", ".join(levels) or "none (the spec sweeps no parameter with listed values)"
        raise ctx.fail(where, f"is {key!r}, but must be a swept parameter with listed values: {allowed}.")
    return key


def _level(ctx, where, value, key, levels) -> str:
    label = level_label(value)
    if label not in levels[key]:
        raise ctx.fail(where, f"is {value!r}, but must be one of {key}'s levels: {', '.join(levels[key])}.")
    return label


def _comparison(ctx, where, kind, raw, levels, numeric, baselines) -> dict:
    """The claim's factor(s) and level(s), as level labels."""
    path = where + (COMPARISONS[kind],)
    if not isinstance(raw, dict):
        raise ctx.fail(path, f"must be a mapping: {_SHAPE}.")
    allowed = {LEVELS: ("parameter", "level", "against", "at"), TREND: ("parameter", "at"),
               INTERACTION: ("parameters", "levels")}[kind]
    bad = sorted(set(raw) - set(allowed))
    if bad:
        raise ctx.fail(path + (bad[0],), f"unknown key; allowed: {', '.join(allowed)}.")
    if kind == LEVELS:
        for key in allowed[:3]:
            if key not in raw:
                raise ctx.fail(path, f"needs `{key}`: the claim compares `level` of `parameter` against `against`.")
        p = _factor(ctx, path + ("parameter",), raw["parameter"], levels)
        level = _level(ctx, path + ("level",), raw["level"], p, levels)
        against = _level(ctx, path + ("against",), raw["against"], p, levels)
        if level == against:
            raise ctx.fail(path + ("against",), f"is {level}, the same level as `level`: compare two levels.")
        return {"parameter": p, "level": level, "against": against, "at": _at(ctx, path, raw, p, levels)}
    if kind == TREND:
        p = _factor(ctx, path + ("parameter",), raw.get("parameter"), levels)
        if p not in numeric or len(levels[p]) < 2:
            raise ctx.fail(path + ("parameter",), f"is {p}, but a trend needs a parameter with two or more numeric "
                                                  f"levels (it has {', '.join(levels[p])}).")
        return {"parameter": p, "at": _at(ctx, path, raw, p, levels)}
    names = raw.get("parameters")
    if not (isinstance(names, list) and len(names) == 2):
        raise ctx.fail(path + ("parameters",), "must list the two swept parameters of the interaction.")
    p = _factor(ctx, path + ("parameters", 0), names[0], levels)
    q = _factor(ctx, path + ("parameters", 1), names[1], levels)
    if p == q:
        raise ctx.fail(path + ("parameters", 1), "is the same parameter twice: an interaction needs two.")
    chosen = raw.get("levels")
    if chosen is None:
        picked = []
        for j, key in enumerate((p, q)):
            others = [lv for lv in levels[key] if lv != baselines[key]]
            if len(others) != 1:
                raise ctx.fail(path + ("parameters", j), f"has {len(levels[key])} levels: say which one the claim is "
                                                         f"about with `levels: [a, b]`.")
            picked.append(others[0])
    else:
        if not (isinstance(chosen, list) and len(chosen) == 2):
            raise ctx.fail(path + ("levels",), "must give one level of each parameter, in order.")
        picked = [_level(ctx, path + ("levels", j), chosen[j], key, levels) for j, key in enumerate((p, q))]
        for j, key in enumerate((p, q)):
            if picked[j] == baselines[key]:
                raise ctx.fail(path + ("levels", j), f"is {key}'s baseline ({picked[j]}); the interaction compares "
                                                     "another level's change with the baseline's.")
    return {"parameter": p, "level": picked[0], "other": q, "other_level": picked[1]}


def _at(ctx, path, raw, parameter: str, levels) -> dict | None:
    """`at: {factor: level, ...}`: the other factors' levels the comparison is made at (None: averaged over)."""
    if "at" not in raw:
        return None
    at = raw["at"]
    if not (isinstance(at, dict) and at):
        raise ctx.fail(path + ("at",), "must map other swept parameters to one of their levels, e.g. "
                                       "{budget: epochs}: the setting the claim is made at.")
    out = {}
    for key, value in at.items():
        if key == parameter:
            raise ctx.fail(path + ("at", key), "is the claim's own parameter; `at` fixes the other ones.")
        name = _factor(ctx, path + ("at", key), key, levels)
        out[name] = _level(ctx, path + ("at", key), value, name, levels)
    return out


def _published(ctx, where, raw, extractor: str, dataset: str) -> tuple[float | None, str, str]:
    """(the published size, ratio or difference, why it cannot be set beside ours or "")."""
    if raw is None:
        return None, "", ""
    path = where + ("published",)
    if not isinstance(raw, dict):
        raise ctx.fail(path, "must be a mapping: {ratio: 0.8} or {difference: -3.1}, with optional extractor, "
                             "dataset and not_comparable (why the figures cannot be compared).")
    bad = sorted(set(raw) - set(PUBLISHED_CLAIM_KEYS))
    if bad:
        raise ctx.fail(path + (bad[0],), f"unknown key; allowed: {', '.join(PUBLISHED_CLAIM_KEYS)}.")
    sizes = [k for k in SIZES if k in raw]
    if len(sizes) != 1:
        raise ctx.fail(path, "needs exactly one of `ratio` (level / against) or `difference` (level - against).")
    value = raw[sizes[0]]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (sizes[0] == "ratio" and not value > 0):
        raise ctx.fail(path + (sizes[0],), f"is {value!r}, but must be a number"
                                           + (" > 0." if sizes[0] == "ratio" else "."))
    reasons = []
    for key, ours in (("extractor", extractor), ("dataset", dataset)):
        theirs = raw.get(key)
        if theirs is not None and not isinstance(theirs, str):
            raise ctx.fail(path + (key,), f"is {theirs!r}, but must be a string.")
        if theirs is not None and theirs != ours:
            reasons.append(f"{key} {theirs} there, {ours} here")
    note = raw.get("not_comparable")
    if note is not None:
        if not (isinstance(note, str) and note.strip()):
            raise ctx.fail(path + ("not_comparable",), "must say, in words, why the sizes cannot be compared.")
        reasons.append(note.strip())
    return float(value), sizes[0], "; ".join(reasons)
