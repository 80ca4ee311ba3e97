"""What a sweep sets out to do, before it runs: the plan `--dry-run` prints (`plan`), the spec as run
(`resolved_spec`, the sweep folder's spec.resolved.yaml), the design the report reads (`sweep_design`,
design.json), the parent run's note, and `--dry-run --pilot`'s seed plan."""

from __future__ import annotations

import dataclasses

import yaml

from gan.config import flatten
from record.design import Factor, SweepDesign, level_label
from sweeps.plugins import ship_paths
from sweeps.specfile import SweepSpec

__all__ = ["pilot_plan", "plan", "resolved_spec", "sweep_design", "sweep_note"]


def plan(spec: SweepSpec) -> str:
    """Human-readable resolved search space, trial count and estimated iterations."""
    lines = [f"sweep {spec.name!r} from {spec.source}" + (f" (scale {spec.scale})" if spec.scale else "")]
    if spec.description:
        lines.append(f"  {spec.description}")
    lines.append(f"method: {spec.method}; metric: {spec.metric} ({spec.mode}); "
                 f"early stopping: {spec.early_stopping.type}"
                 + (f" (grace {spec.early_stopping.grace_period}, reduction {spec.early_stopping.reduction_factor}, "
                    f"max {spec.max_evaluations()} evaluations)" if spec.early_stopping.type != "none" else "")
                 + (" on configurations: all of a configuration's seeds stop together" if spec.early_stopping.type
                    == "race" else ""))
    if spec.plugins:
        shipped = ship_paths(spec.plugins)
        lines.append(f"plugins: {', '.join(spec.plugins)}" + (f" (shipped to the workers: {', '.join(shipped)})"
                                                              if shipped else " (installed)")
                     + "; imported to read this spec, so their code has run")
    lines.append("parameters:")
    for p in spec.parameters:
        dom = f"values {list(p.values)}" if p.values is not None else f"{p.distribution}[{p.low}, {p.high}]" + (
            f" step {p.step}" if p.step else "")
        lines.append(f"  {p.key}: {dom}")
    if not spec.parameters:
        lines.append("  (none: the base config only)")
    if spec.budget.hold:
        plans = {"epochs": lambda: "epochs as configured",
                 "iterations": lambda: f"{spec.budget_iterations()} iterations",
                 "seconds": lambda: f"{spec.budget.seconds:g} s of training"}
        lines.append("budget plans, side by side: " + "; ".join(plans[p]() for p in spec.budget.hold)
                     + (" (a configuration whose epochs already give that many iterations runs once, for both)"
                        if {"epochs", "iterations"} <= set(spec.budget.hold) else ""))
    seeds = str(list(spec.seeds))
    if spec.adaptive:
        more = ("one more while the configuration is in a best set of several" if spec.method == "optuna" else
                f"one more per round where the model's answer is open; at most {spec.adaptive.looks} looks")
        seeds = f"adaptive, {spec.adaptive.initial} to {spec.adaptive.max} per configuration from {seeds} ({more})"
        factors = [p for p in spec.parameters if p.distribution is None and len(p.values or ()) > 1]
        if spec.method != "optuna" and len(factors) == 1 and len(factors[0].values) >= 3:
            seeds += (f"; note: one factor of {len(factors[0].values)} levels, where the rule saves few trials and "
                      "has less power than fixed seeds of as many (docs/statistics.md, \"One factor\"): fixed seeds "
                      "suit it")
    lines.append(f"seeds: {seeds}; resources per trial: {spec.resources.cpus} CPU, {spec.resources.gpus} GPU; "
                 f"max concurrent: {spec.max_concurrent or 'unlimited'}")
    if spec.resources.pack_seeds:
        lines.append(f"packed: each configuration's {len(spec.seeds)} seeds train in one trial as one model "
                     "(gan.packed), each logged as its own run; the resources above are each pack's")
    if spec.trainable is not None:
        own = spec.trainable
        lines.append(f"training: your function {own.function}, {own.evaluations} reports per trial, the seed in "
                     "config['seed']; it reports its own metrics")
        lines.append(f"its config: checked against {own.config_class} for every trial" if own.config_class else
                     "its config: passed as given; nothing checked its keys or types (name a dataclass in "
                     "`trainable.config_class` to have them checked)")
    else:
        train = spec.base.train
        lines.append(f"training numerics: precision {train.precision}, channels_last {train.channels_last}, "
                     f"compile {train.compile}" + _auto_levers(train))
        ev = spec.evaluation
        lines.append(
            f"evaluation: {ev.extractor} extractor in {ev.precision}, metrics {list(ev.metrics)}, {ev.num_samples} "
            f"samples ({spec.final_num_samples or ev.num_samples} at the end), {ev.real_samples} real"
        )
    if spec.published:
        lines.append(f"published figures ({len(spec.published)}), shown beside ours in the report's scorecard:")
        for f in spec.published:
            config = ", ".join(f"{k}={v}" for k, v in f.params.items())
            spread = f" ± {f.spread:g}" if f.spread is not None else ""
            best = " (best over training)" if f.statistic == "best" else ""
            lines.append(
                f"  {f.metric}{best} {f.value:g}{spread} at {config} ({f.extractor or 'extractor not stated'}, "
                f"{f.dataset or 'dataset not stated'}; {f.source})"
            )
    if spec.claims:
        lines.append("claims (judged by the report):")
        for c in spec.claims:
            size = f"; published {c.published_as} {c.published:g}" if c.published is not None else ""
            size += f" (not comparable: {c.not_comparable})" if c.not_comparable else ""
            lines.append(f"  {c.id} ({c.source}): {c.describe()}{size}" + (f" -- {c.statement}" if c.statement else ""))
    lines += _trial_lines(spec)
    return "\n".join(lines)


def _trial_lines(spec: SweepSpec) -> list[str]:
    """The plan's trials: their count, iterations and evaluations, and the first 50 one by one."""
    lines = []
    configs = spec.trial_configs()
    if configs:
        iters = [spec.iterations(spec.config_for(c)) for c in configs]
        evals = [spec.evaluations(spec.config_for(c)) for c in configs]
        training = (f"iterations per trial: {min(iters)}..{max(iters)} ({sum(iters)} in all without early "
                    "stopping); " if spec.trainable is None else "")
        lines.append(f"trials: {'up to ' if spec.adaptive else ''}{len(configs)}"
                     + (f" ({len(configs) // len(spec.seeds) * spec.adaptive.initial} in the first round)"
                        if spec.adaptive else "") + f"; {training}evaluations per trial: {min(evals)}..{max(evals)}")
        for i, c in enumerate(configs[:50]):
            lines.append(f"  {i:3d}: " + ", ".join(f"{k}={v}" for k, v in c.items()))
        if len(configs) > 50:
            lines.append(f"  ... {len(configs) - 50} more")
    elif spec.trainable is not None:
        lines.append(f"trials: {'up to ' if spec.adaptive else ''}{spec.num_trials()} proposed by Optuna (TPE, seed "
                     f"{spec.search_seed}; {spec.num_samples} configurations)")
    else:
        it = spec.iterations(spec.base)
        lines.append(f"trials: {'up to ' if spec.adaptive else ''}{spec.num_trials()} proposed by Optuna (TPE, seed "
                     f"{spec.search_seed}; {spec.num_samples} configurations); "
                     f"about {it} iterations per trial at the base config ({it * spec.num_trials()} in all without "
                     "early stopping)")
    return lines


def sweep_design(spec: SweepSpec):
    """The spec's factors, baselines, early-stopping rule and published figures, as the report reads them."""
    factors = []
    base = flatten(spec.user_config if spec.trainable is not None else spec.base.resolve().to_dict())  # as logged
    for p in spec.parameters:
        keys = sorted(p.config_keys())
        levels = [list(v) if isinstance(v, tuple) else v for v in p.values] if p.values is not None else None
        baseline = p.baseline if p.baseline is not None else (levels[0] if levels else None)
        defaults = ({k: list(base[k]) if isinstance(base[k], tuple) else base[k] for k in keys if k in base}
                    if p.variant else None)
        factors.append(Factor(p.key, keys, levels, list(baseline) if isinstance(baseline, tuple) else baseline,
                              p.variant, defaults))
    es = dataclasses.asdict(spec.early_stopping)
    if spec.early_stopping.type != "none":
        es["max_evaluations"] = spec.max_evaluations()
    return SweepDesign(
        metric=spec.metric, mode=spec.mode, method=spec.method, seeds=list(spec.seeds), factors=factors,
        early_stopping=es, extractor=spec.evaluation.extractor if spec.trainable is None else "your own",
        final_samples=(spec.final_num_samples or spec.evaluation.num_samples) if spec.trainable is None else 0,
        published=list(spec.published),
        budget={"hold": list(spec.budget.hold), "iterations": spec.budget_iterations(),
                "seconds": spec.budget.seconds} if spec.budget.hold else {},
        min_effect=spec.min_effect, claims=list(spec.claims),
    )


def resolved_spec(spec: SweepSpec) -> str:
    """The spec as run, its scale applied, as a loadable spec file; its plan above it in comments."""
    return "".join(f"# {line}\n" for line in plan(spec).splitlines()) + yaml.safe_dump(
        spec.raw, sort_keys=False, default_flow_style=None, width=120)


def pilot_plan(spec: SweepSpec, pilot: str) -> str:
    """What `--dry-run --pilot SWEEP` prints: `analysis.pilot.pilot_plan` for this grid spec's factors."""
    from analysis.pilot import PilotError, pilot_plan as plan_from

    if spec.method != "grid":
        raise PilotError(f"a plan needs the configurations in advance, which a {spec.method} search does not fix; "
                         "plan its seeded grid rerun instead.")
    factors = [(p.key, [level_label(v) for v in p.values],
                level_label(p.baseline if p.baseline is not None else p.values[0]))
               for p in spec.parameters if p.values is not None and len(p.values) > 1]
    return plan_from(pilot, metric=spec.metric, extractor=spec.evaluation.extractor, factors=factors,
                     seeds=len(spec.seeds) * spec.num_samples, min_effect=spec.min_effect)


def sweep_note(spec: SweepSpec) -> str:
    """What the parent run's page says first: the metric that ranks the runs, the factors and the seeds."""
    factors = "\n".join(f"- `{p.key}`: " + (", ".join(str(level_label(v)) for v in p.values) if p.values is not None
                                           else f"{p.distribution} [{p.low}, {p.high}]") for p in spec.parameters)
    return (f"**{spec.metric}** ({'lower' if spec.mode == 'min' else 'higher'} is better) ranks the runs; "
            f"child runs are named by their swept values.\n\nFactors:\n{factors or '- none (the base config)'}\n\n"
            f"Seeds: {', '.join(map(str, spec.seeds))}; method: {spec.method}; scale: {spec.scale or 'full'}. "
            "The report (`python -m analysis.report`) compares them with intervals over seeds.")


def _auto_levers(train) -> str:
    """What `auto` levers resolve to on this machine's CPU (each trial resolves them on the machine it runs on)."""
    if "auto" not in (train.precision, train.channels_last):
        return ""
    from gan.numerics import native_bf16_cpu, resolve_precision, wide_vector_cpu

    picked = []
    if train.precision == "auto":
        picked.append(f"precision {resolve_precision('auto', 'cpu')} (native bf16: {native_bf16_cpu()})")
    if train.channels_last == "auto":
        wide = wide_vector_cpu()
        picked.append(f"channels_last {wide} for convolutional networks (AVX-512: {wide})")
    return ("; auto on this machine's CPU: " + ", ".join(picked)
            + " (each trial picks on the machine it runs on; a GPU takes bf16 where supported and channels_last)")
