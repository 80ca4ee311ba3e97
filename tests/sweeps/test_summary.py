"""The driver's last word on a sweep (sweeps.summary): the configurations ranked by the report's model."""

from record.status import Status
from sweeps.specfile import parse_spec
from sweeps.summary import format_summary


def _summary_spec(name: str, parameters: str, seeds: int):
    """A small grid spec for the sweep summary's tests: `parameters` is the indented body of its `parameters:`."""
    return parse_spec(
        f"name: {name}\nbase:\n  data: {{name: fashion_mnist}}\n  train: {{iterations: 20, eval_every: 10}}\n"
        f"parameters:\n{parameters}method: grid\nseeds: {seeds}\n",
        source=f"{name}.yaml",
    )


def test_the_sweep_summary_does_not_rank_a_lone_configuration_against_nothing():
    spec = _summary_spec("lone", "  optim.g_lr: {values: [0.0002, 0.002]}\n", 3)
    rows = [{"trial_id": f"t{s}", "status": Status.COMPLETED, "fid": 80.0 + s, "evaluation": 2, "step": 20,
             "swept": {"optim.g_lr": 0.0002, "train.seed": s}} for s in range(3)]
    rows.append({"trial_id": "t3", "status": Status.INTERRUPTED, "fid": 300.0, "evaluation": 1, "step": 10,
                 "swept": {"optim.g_lr": 0.002, "train.seed": 0}})
    text = format_summary({"metric": "fid", "mode": "min", "trials": rows}, spec)
    assert "only one configuration has finished runs: nothing to rank it against." in text
    assert "indistinguishable from the best" not in text
    rows[3]["status"] = Status.COMPLETED  # a second configuration with one run: now there is a comparison
    rows += [{**rows[3], "trial_id": f"t{4 + s}", "fid": 301.0 + s, "swept": {"optim.g_lr": 0.002, "train.seed": s}}
             for s in (1, 2)]
    text = format_summary({"metric": "fid", "mode": "min", "trials": rows}, spec)
    assert "1 of 2 configurations are indistinguishable from the best at 95%" in text


def test_the_sweep_summary_names_a_parameter_held_at_one_level():
    """hidden_dims at smoke scale sweeps latent_dim over the one value 100: the fitted model has no factor for
    it, and the summary still names it with each configuration."""
    spec = _summary_spec("held", "  model.latent_dim: {values: [100]}\n  model.g_width: {values: [8, 32]}\n", 2)
    rows = [{"trial_id": f"t{g}{s}", "status": Status.COMPLETED, "fid": (150.0 if g == 8 else 90.0) + s,
             "evaluation": 2, "step": 20, "swept": {"model.latent_dim": 100, "model.g_width": g, "train.seed": s}}
            for g in (8, 32) for s in (0, 1)]
    text = format_summary({"metric": "fid", "mode": "min", "trials": rows}, spec)
    assert "latent_dim=100, g_width=32" in text and "geometric mean [95% CI]" in text


def test_the_sweep_summary_of_a_sweep_where_no_trial_finished_says_so():
    spec = _summary_spec("none", "  model.g_width: {values: [8, 32]}\n", 2)
    rows = [{"trial_id": f"t{g}{s}", "status": Status.DIVERGED, "fid": None, "evaluation": 1, "step": 10,
             "swept": {"model.g_width": g, "train.seed": s}} for g in (8, 32) for s in (0, 1)]
    text = format_summary({"metric": "fid", "mode": "min", "trials": rows}, spec)
    assert text.endswith("no trial finished with a finite fid.")


def test_an_interrupted_grids_summary_lists_each_planned_trial_it_did_not_create_once():
    """Two samples of a two-level grid with two seeds plan every (configuration, seed) twice: the trials created
    take their own planned slot, each repeat included, and the rest are listed as not started."""
    from sweeps.contract import TRIAL
    from sweeps.ledger import Ledger
    from sweeps.space import trial_space
    from sweeps.summary import summary

    spec = _summary_spec("planned", "  optim.g_lr: {values: [0.0002, 0.002]}\nnum_samples: 2\n", 2)
    space = trial_space(spec)
    planned = space[TRIAL]["grid_search"]
    assert len(planned) == 8
    ledger = Ledger(total=len(planned))
    # the first configuration's two seeds, then its first seed again (the grid's second sample)
    created = [planned[0], planned[1], planned[4]]
    for i, item in enumerate(created):
        config = {**{k: v for k, v in space.items() if k != TRIAL}, TRIAL: item}
        ledger.trials[f"t{i}"] = {"state": "TERMINATED", "last": {"fid": 100.0 + i, "evaluation": 2, "is_final": 1.0},
                                  "config": config}
        assert ledger.request(f"t{i}").levels == {"optim.g_lr": 0.0002}  # resolved on the driver, carried by Tune
    rows = summary(spec, ledger, interrupted=True)["trials"]
    assert len(rows) == 8 and sum(r["status"] == Status.NOT_STARTED for r in rows) == 5
    left = [(r["swept"]["optim.g_lr"], r["swept"]["train.seed"]) for r in rows if r["status"] == Status.NOT_STARTED]
    assert sorted(left) == [(0.0002, 1), (0.002, 0), (0.002, 0), (0.002, 1), (0.002, 1)]
