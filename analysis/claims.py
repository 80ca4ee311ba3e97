"""The claims a sweep's spec stated (record.claims), judged (stats.claims), in the report and as a page.

`python -m analysis.claims SWEEP [SWEEP ...] [--out docs/claims.md]` builds the claims page from sweeps' MLflow
runs: one row per claim and seed set, the published figure beside our verdict, and a mark where two seed sets
of the same claim disagree. A SWEEP is anything `analysis.report` takes (a sweep folder, an output root, an
experiment name).
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
from pathlib import Path

import pandas as pd

from analysis.augmentation import augmentation_claims
from analysis.load import Sweep, SweepNotFound, load_sweep
from analysis.verdicts import report_fit
from record.claims import Claim
from record.errors import GansweepError
from record.metrics import OUTPUTS, TRAINING
from record.names import SEED
from stats.claims import AGREES, CONTRADICTS, NOT_COMPARABLE, ClaimVerdict
from stats.fit import DesignFit, fit_design

__all__ = ["claim_line", "claims_frame", "sweep_claims"]


def sweep_claims(sweep: Sweep, fit: DesignFit, factors: list[str],
                 augmentation: list[ClaimVerdict] | None = None) -> list[ClaimVerdict]:
    """Every claim of the sweep's design, judged: those about the ranking metric by the report's own fit (`fit`,
    the same Holm family), each other metric's by a fit of that metric with its claims; then, when an
    augmentation study ran over the sweep (studies.augment), that study's claim (analysis.augmentation; a
    caller that already judged it passes it as `augmentation`)."""
    if augmentation is None:
        augmentation = [v for v, _ in augmentation_claims(sweep)]
    claims: list[Claim] = list(sweep.design.claims) if sweep.design else []
    if not claims:
        return augmentation
    by_id = {v.claim.id: v for v in fit.claims}
    for metric in dict.fromkeys(c.metric for c in claims if c.metric and c.metric != fit.metric):
        if metric not in sweep.trials:
            by_id.update({c.id: ClaimVerdict(c, NOT_COMPARABLE, None, f"no run logged {metric}")
                          for c in claims if c.metric == metric})
            continue
        # a run's training time is fitted whatever its FID did: a slow run (a busy machine) is not a collapsed one
        keep = "keep" if OUTPUTS[metric].producer == TRAINING else "exclude"
        other = fit_design(sweep.trials, metric, OUTPUTS[metric].direction or "min", factors, sweep.baselines,
                           min_effect=None, claims=claims, collapses=keep)
        by_id.update({v.claim.id: v for v in other.claims})
    return [by_id[c.id] for c in claims if c.id in by_id] + augmentation


def claim_line(v: ClaimVerdict, size: bool = True) -> str:
    """A claim's verdict in one line: `lr-unstable (001, section 2): lr 2e-2 against lr 5e-4: higher fid -- agrees:
    fid x 1.32 (1.10 to 1.58), Holm-adjusted p = 0.003`."""
    c, e = v.claim, v.effect
    head = f"{c.id} ({c.source}): {c.statement or c.describe()}"
    if e is None:
        return f"{head} -- {v.outcome}: {v.reason}"
    if e.scale == "log" and math.isfinite(e.ratio):
        change = f"{c.metric} x {e.ratio:.2f} ({e.ratio_low:.2f} to {e.ratio_high:.2f})"
    else:
        change = f"{c.metric} {e.estimate:+.3g} ({e.low:+.3g} to {e.high:+.3g})"
    p = f", Holm-adjusted p = {e.p_adjusted:.2g}" if math.isfinite(e.p_adjusted) else ""
    tail = "; ".join(x for x in (v.reason, v.size if size else "") if x)
    return f"{head} -- {v.outcome}: {change}{p}" + (f"; {tail}" if tail else "")


def claims_frame(verdicts: list[ClaimVerdict]) -> pd.DataFrame:
    return pd.DataFrame([v.row() for v in verdicts])


# -------------------------------------------------------------------------------------------------
# the claims page, from several sweeps


def _setting(s: Sweep) -> str:
    """What we ran, in a few words: dataset, extractor, the generator steps its runs trained, budget plans."""
    t = s.trials
    first = lambda col: str(t[col].dropna().iloc[0]) if col in t and t[col].notna().any() else "?"  # noqa: E731
    steps = t["last_step"].dropna().astype(int) if "last_step" in t else pd.Series(dtype=int)
    steps = steps[steps > 0]
    span = "?" if steps.empty else str(steps.min()) if steps.min() == steps.max() else f"{steps.min()} to {steps.max()}"
    hold = list(s.design.budget.get("hold", ())) if s.design else []
    plans = f" under budget plans {' and '.join(hold)}" if len(hold) > 1 else ""
    return f"{first('data.name')}, {first('eval.extractor')} extractor, {span} generator steps{plans} ({s.experiment})"


def _augmentation_setting(s: Sweep, cells: pd.DataFrame) -> tuple[str, str]:
    """What the augmentation study over `s` ran, and its seeds: the generator's and the classifier's."""
    plan, run = cells.attrs.get("plan", {}), cells.attrs.get("generator_run")
    row = s.trials[s.trials["run_id"] == run] if "run_id" in s.trials else s.trials.iloc[0:0]
    seed = int(row[SEED].iloc[0]) if SEED in row and len(row) and pd.notna(row[SEED].iloc[0]) else "?"
    classifier_seeds = ",".join(map(str, sorted({int(x) for x in cells["seed"]})))
    ran = (f"{cells.attrs.get('dataset') or '?'}, {plan.get('classifier', '?')} classifier trained "
           f"{plan.get('epochs', '?')} epochs on real and generated images, the generator the best run of "
           f"({s.experiment})")
    return ran, f"{classifier_seeds} of the classifier, the generator's {seed}"


def claims_page(sweeps: list[Sweep], cpu: str) -> str:
    """One row per claim: the study's claim and published figure, what we ran, each seed set's verdict (its
    outcome, change, interval and Holm-adjusted p), and whether the seed sets agree. A sweep with an
    augmentation study (studies.augment) adds that study's claim (analysis.augmentation)."""
    by_claim: dict[str, list[tuple[str, str, ClaimVerdict]]] = {}
    for s in sweeps:
        fit, factors = report_fit(s)
        judged = augmentation_claims(s)
        studied = {v.claim.id: cells for v, cells in judged}
        for v in sweep_claims(s, fit, factors, augmentation=[v for v, _ in judged]):
            where = (_augmentation_setting(s, studied[v.claim.id]) if v.claim.id in studied
                     else (_setting(s), _seeds(s)))
            by_claim.setdefault(v.claim.id, []).append((*where, v))
    if not by_claim:
        raise SweepNotFound("none of these sweeps states a claim (a `claims:` section in its spec)")
    lines = ["# The studies' claims, tested", "",
             f"Built by `python -m analysis.claims` from the sweeps' MLflow runs ({cpu}). Every published figure "
             "came from one training run per setting. Each claim here was run on two disjoint seed sets, each judged "
             "by its report's fitted model with Holm's correction over that report's comparisons (the augmentation "
             "claims by the same model over their classifiers' accuracies alone, with the study's gain as min_effect; "
             "docs/statistics.md#claims). **disagree** marks a claim one seed set finds real one way and the other "
             "the other way; *differ* one whose seed sets reach different outcomes otherwise.", "",
             "| claim | source | published | we ran | seed sets: verdicts | outcome |", "|---|---|---|---|---|---|"]
    for cid, found in by_claim.items():
        c = found[0][2].claim
        published = (f"{c.published_as} {c.published:g} (one run)" if c.published is not None else "direction only")
        if c.not_comparable:
            published += f"; not comparable: {c.not_comparable}"
        ran = "; ".join(dict.fromkeys(setting for setting, _, _ in found))
        verdicts = "<br>".join(f"seeds {seeds}: {claim_line(v, size=not c.not_comparable).split(' -- ', 1)[1]}"
                               for _, seeds, v in found)
        outcomes = [v.outcome for _, _, v in found]
        if {AGREES, CONTRADICTS} <= set(outcomes):
            outcome = "**disagree**: " + ", ".join(outcomes)
        elif len(set(outcomes)) > 1:
            outcome = "*differ*: " + ", ".join(outcomes)
        else:
            count = {1: "one seed set", 2: "both seed sets"}.get(len(outcomes), f"all {len(outcomes)} seed sets")
            outcome = f"{outcomes[0]} ({count})"
        cells = [f"{cid}: {c.statement or c.describe()}", c.source, published, ran, verdicts, outcome]
        lines.append("| " + " | ".join(x.replace("|", "/").replace("\n", " ") for x in cells) + " |")
    return "\n".join(lines) + "\n"


def _seeds(s: Sweep) -> str:
    seeds = sorted({int(x) for x in s.trials[SEED].dropna()}) if SEED in s.trials else []
    return ",".join(map(str, seeds)) or "?"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.claims", description=__doc__.split("\n\n")[1])
    parser.add_argument("sweeps", nargs="+", help="sweep folders, output roots or experiment names")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: each sweep's own)")
    parser.add_argument("--out", help="write the page here (default: print it)")
    args = parser.parse_args(argv)
    try:
        sweeps = [load_sweep(t, tracking_uri=args.tracking_uri) for t in args.sweeps]
        page = claims_page(sweeps, _cpu())
    except GansweepError as e:  # a target not found, or its folder or store unreadable
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).write_text(page)
        print(f"claims page: {args.out} ({page.count(chr(10)) - 6} rows)")
    else:
        print(page, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
