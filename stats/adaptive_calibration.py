"""The adaptive-seeds rule (stats.adaptive.next_round) over simulated studies:
`python -m stats.adaptive_calibration [--studies 400]`.

Each study draws every configuration's seeds up front from FID-shaped noise (stats.calibration's
designs and scenarios) and runs the rule look by look, as a sweep would: the table gives, per design
and scenario, the share of studies with a false verdict, the power to find a planted effect, the share
answered, and the mean trials, beside fixed designs of n seeds (the same rule with a single look).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np

from stats.adaptive import ANSWERED, next_round
from stats.contrasts import BETTER, WORSE
from stats.calibration import COLLAPSE_RATES, DESIGNS, EFFECT, collapsed, design_cells, trials_table

__all__ = ["EFFECTS", "Simulated", "main", "simulate"]

EFFECTS = (0.8, 0.9)  # planted ratios: FID 20% and 10% lower at the first parameter's last level



def _seed_block(design: str) -> int:
    """The design's block of simulation seeds in the tables: its place in stats.calibration.DESIGNS."""
    return list(DESIGNS).index(design)


def _run(pool: dict[tuple, np.ndarray], params, initial: int, maximum: int, rho: float, min_effect,
         collapses: str = "exclude"):
    """One adaptive study over pre-drawn seeds (`pool`: maximum values per configuration)."""
    seeds = {c: initial for c in pool}
    decided, settled = {}, set()
    looks = maximum - initial + 1
    for look in range(1, looks + 1):
        data = trials_table({c: list(v[:seeds[c]]) for c, v in pool.items()}, params)
        r = next_round(data, "fid", "min", params, {p: 0 for p in params}, look=look, looks=looks, seeds=seeds,
                       max_seeds=maximum, decided=decided, settled=settled, min_effect=min_effect, rho=rho,
                       collapses=collapses)
        decided, settled = r.decided, r.settled
        if r.stop:
            return r, seeds
        for c in r.add:
            seeds[c] += 1
    return r, seeds


@dataclass
class Simulated:
    false_verdicts: float  # share of studies with any false verdict
    power: float  # share of studies that found the planted effect (nan without one)
    answered: float  # share of studies that ended with every main effect decided or settled and the best set resolved
    trials: float  # mean trials per study
    stops: dict[str, float]  # share of studies ended by each reason


def simulate(design: str, scenario: str, studies: int, *, initial: int = 2, maximum: int = 6, rho: float = 2.0,
             seed: int = 0, cv: float = 0.05, effect: float | None = None,
             min_effect: float | None = None, collapse: float = 0.0, collapses: str = "exclude") -> Simulated:
    """The adaptive rule over `studies` simulated studies of `stats.calibration` (same designs and
    scenarios, every configuration drawing up to `maximum` seeds). `cv`: the seed SD as a share of the
    mean (5%, as the main job measures); `effect`: the planted ratio (default calibration's); `collapse`: the
    chance that a seed collapses (stats.calibration.collapsed); `collapses`: "keep" fits every run, as the rule
    did before collapsed runs were set aside."""
    rng = np.random.default_rng(seed)
    shape = DESIGNS[design]
    params, cells = design_cells(design, scenario, cv, EFFECT if effect is None else effect)
    false = found = 0
    trials, stops = [], {}
    for _ in range(studies):
        pool = {key: collapsed(rng, rng.normal(mean, sd, maximum), collapse) for key, (mean, sd) in cells.items()}
        r, seeds = _run(pool, params, initial, maximum, rho, min_effect, collapses)
        trials.append(sum(seeds.values()))
        stops[r.stop] = stops.get(r.stop, 0) + 1
        bad = False
        for (parameter, level), (verdict, _) in r.decided.items():
            real = scenario == "effect" and parameter == "a" and level == str(shape[0] - 1)
            if real:
                found += verdict == BETTER
                bad |= verdict == WORSE
            else:
                bad = True
        false += bad
    return Simulated(
        false / studies,
        found / studies if scenario == "effect" else math.nan,
        sum(stops.get(a, 0) for a in ANSWERED) / studies,
        float(np.mean(trials)),
        {k: v / studies for k, v in stops.items()},
    )


def main(argv: list[str] | None = None) -> int:

    parser = argparse.ArgumentParser(prog="python -m stats.adaptive_calibration", description=__doc__.split("\n")[0])
    parser.add_argument("--studies", type=int, default=400, help="simulated studies per line (default 400)")
    parser.add_argument("--initial", type=int, default=2)
    parser.add_argument("--max", type=int, default=6)
    parser.add_argument("--rho", type=float, default=2.0, help="the spending function's exponent (default 2)")
    parser.add_argument("--cv", type=float, default=0.05, help="seed SD as a share of the mean (default 0.05)")
    parser.add_argument("--designs", default="2x2,2x2x2",
                        help=f"designs, comma-separated (default 2x2,2x2x2; of {', '.join(DESIGNS)})")
    parser.add_argument("--collapses", action="store_true",
                        help="with seeds that collapse (at 0, 5 and 10%% per seed), setting them aside or not, instead")
    args = parser.parse_args(argv)
    designs = [d.strip() for d in args.designs.split(",") if d.strip()]
    if unknown := [d for d in designs if d not in DESIGNS]:
        parser.error(f"--designs: {', '.join(unknown)} unknown; the designs are {', '.join(DESIGNS)}")
    s = args.studies
    if args.collapses:
        collapse_table(s, args.initial, args.max, args.cv, designs)
        return 0
    print(f"{s} simulated studies per line; seed SD {args.cv:.0%} of the mean; adaptive: seeds {{initial: "
          f"{args.initial}, max: {args.max}}}, spending rho {args.rho:g}; fixed: n seeds everywhere, one look at 5% "
          f"(the same rule with a single look). Cells: false verdicts / power / answered (every main effect decided or "
          f"settled, the best set one configuration or a tie) / trials.")
    fixed_ns = list(range(args.initial, args.max + 1))
    print("| design | scenario | adaptive | " + " | ".join(f"fixed, {n} seeds" for n in fixed_ns) + " |")
    print("|---|---|---|" + "---|" * len(fixed_ns))
    for design in designs:
        i = _seed_block(design)
        for j, (scenario, effect) in enumerate([("null", None), ("noisy", None)] + [("effect", e) for e in EFFECTS]):
            runs = [simulate(design, scenario, s, initial=args.initial, maximum=args.max, rho=args.rho,
                             seed=100 * i + j, cv=args.cv, effect=effect)]
            runs += [simulate(design, scenario, s, initial=n, maximum=n, seed=100 * i + j, cv=args.cv, effect=effect)
                     for n in fixed_ns]
            cell = lambda r: (  # noqa: E731
                f"{r.false_verdicts:.1%} / {r.power:.0%} / {r.answered:.0%} / {r.trials:.1f}"
                if math.isfinite(r.power)
                else f"{r.false_verdicts:.1%} / - / {r.answered:.0%} / {r.trials:.1f}"
            )
            what = scenario if effect is None else f"effect x {effect:g}"
            print(f"| {design} | {what} | " + " | ".join(cell(r) for r in runs) + " |", flush=True)
    return 0


def collapse_table(studies: int, initial: int, maximum: int, cv: float, designs=("2x2", "2x2x2"),
                   effect: float = 0.85) -> None:
    """Adaptive seeds with seeds that collapse: the rule refitting with collapsed runs set aside (the report's
    fit) against the same rule fitting every run, on the same simulated studies."""
    print(f"{studies} studies per line; adaptive seeds {{initial: {initial}, max: {maximum}}}; seed SD {cv:.0%}; a "
          f"seed collapses at the stated chance (FID x U(1.5, 3)); planted effect FID x {effect:g}. Cells: set aside / "
          "kept.")
    print("| design | collapse chance | null: false verdicts | effect: false verdicts | effect: power | effect: "
          "trials |")
    print("|---|---|---|---|---|---|")
    for design in designs:
        i = _seed_block(design)
        for j, rate in enumerate(COLLAPSE_RATES):
            runs = {(sc, how): simulate(design, sc, studies, initial=initial, maximum=maximum, seed=1000 + 10 * i + j,
                                        cv=cv, effect=effect if sc == "effect" else None, collapse=rate,
                                        collapses=how)
                    for sc in ("null", "effect") for how in ("exclude", "keep")}
            pair = lambda sc, f: " / ".join(f(runs[(sc, how)]) for how in ("exclude", "keep"))  # noqa: E731, B023
            print(f"| {design} | {rate:.0%} | {pair('null', lambda r: f'{r.false_verdicts:.1%}')} | "
                  f"{pair('effect', lambda r: f'{r.false_verdicts:.1%}')} | "
                  f"{pair('effect', lambda r: f'{r.power:.0%}')} | {pair('effect', lambda r: f'{r.trials:.1f}')} |",
                  flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
