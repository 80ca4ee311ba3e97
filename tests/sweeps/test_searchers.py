"""The Optuna searcher on its own: a real Optuna study in Optuna's journal storage, driven through the
hooks Tune calls, without a Tune run."""

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from ray import tune
from ray.tune.search.optuna import OptunaSearch

from record.names import Result
from sweeps.contract import TRIAL_INDEX
from sweeps.resolve import ResolvedTrials
from sweeps.searchers import PruningAwareOptunaSearch


def searcher(tmp_path):
    s = PruningAwareOptunaSearch(sampler=optuna.samplers.TPESampler(seed=0), study_name="s",
                                 storage=JournalStorage(JournalFileBackend(str(tmp_path / "optuna.journal"))),
                                 study_file=str(tmp_path / "study.json"))
    s.set_search_properties("fid", "min", {"swept": {"optim.g_lr": tune.loguniform(1e-4, 1e-2)}})
    return s


def test_ray_optuna_search_still_has_the_internals_the_searcher_reaches():
    s = OptunaSearch(metric="fid", mode="min", space={"x": tune.uniform(0, 1)})
    s.suggest("t0")
    assert isinstance(s._ot_study, optuna.Study)
    assert isinstance(s._ot_trials, dict) and isinstance(s._ot_trials["t0"], optuna.Trial)
    assert isinstance(s._completed_trials, set)


def test_stopped_trials_are_pruned_finished_ones_complete_and_the_journal_holds_the_study(tmp_path):
    s = searcher(tmp_path)
    a, b = s.suggest("a"), s.suggest("b")
    assert 1e-4 <= a["swept"]["optim.g_lr"] <= 1e-2 and a != b
    for ev, (fa, fb) in enumerate([(300.0, 310.0), (250.0, 305.0)], 1):
        s.on_trial_result("a", {"fid": fa, Result.EVALUATION: ev})
        s.on_trial_result("b", {"fid": fb, Result.EVALUATION: ev})
    s.on_trial_result("a", {"fid": 999.0, Result.EVALUATION: 1})  # a restored trial repeats an evaluation
    s.on_trial_complete("a", {"fid": 200.0, Result.EVALUATION: 3, Result.IS_FINAL: 1.0, Result.DIVERGED: 0.0})
    s.on_trial_complete("b", {"fid": 305.0, Result.EVALUATION: 2, Result.IS_FINAL: 0.0, Result.DIVERGED: 0.0})
    study = optuna.load_study(
        study_name="s", storage=JournalStorage(JournalFileBackend(str(tmp_path / "optuna.journal")))
    )
    ta, tb = study.get_trials()
    assert (ta.state, ta.value, ta.intermediate_values) == (optuna.trial.TrialState.COMPLETE, 200.0,
                                                            {1: 300.0, 2: 250.0, 3: 200.0})
    assert (tb.state, tb.intermediate_values) == (optuna.trial.TrialState.PRUNED, {1: 310.0, 2: 305.0})
    # the searcher's state, saved and restored as Tune does, reads the same study from the journal
    s.save(str(tmp_path / "searcher.pkl"))
    again = PruningAwareOptunaSearch()
    again.restore(str(tmp_path / "searcher.pkl"))
    assert [t.state for t in again._ot_study.get_trials()] == [ta.state, tb.state]
    again.suggest("c")
    assert len(study.get_trials()) == 3  # the restored searcher writes to the same journal


def test_a_trial_told_after_tunes_last_snapshot_is_not_told_twice_when_it_ends_again(tmp_path):
    """A driver killed after Optuna was told of a trial but before Tune snapshotted the searcher: the
    resumed searcher, restored from that snapshot, sees the trial (restored from an older checkpoint) stopped
    again. The study keeps what it was told; nothing raises."""
    s = searcher(tmp_path)
    s.suggest("a")
    s.on_trial_result("a", {"fid": 300.0, Result.EVALUATION: 1})
    s.save(str(tmp_path / "snapshot.pkl"))  # Tune's last snapshot
    stopped = {"fid": 250.0, Result.EVALUATION: 2, Result.IS_FINAL: 0.0, Result.DIVERGED: 0.0}  # by the scheduler
    s.on_trial_complete("a", stopped)
    resumed = PruningAwareOptunaSearch()
    resumed.restore(str(tmp_path / "snapshot.pkl"))
    assert "a" not in resumed._completed_trials
    resumed.on_trial_result("a", {"fid": 300.0, Result.EVALUATION: 1})
    resumed.on_trial_complete("a", {**stopped, "fid": 251.0})
    (t,) = resumed._ot_study.get_trials()
    assert (t.state, t.value, t.intermediate_values) == (optuna.trial.TrialState.PRUNED, 250.0, {1: 300.0, 2: 250.0})
    assert "a" in resumed._completed_trials


def test_each_suggestion_carries_the_seed_of_its_repeat_and_the_config_the_driver_resolved(tmp_path):
    """The outermost searcher over Ray's Repeater over a real Optuna study: every trial's config is worked out
    here, once, and is the one the spec says for its swept values and seed."""
    from sweeps.schedulers import make_search
    from sweeps.space import trial_space
    from sweeps.specfile import parse_spec
    from tests.helpers import REPO

    text = (REPO / "search_spaces" / "optuna_dcgan.yaml").read_text().replace("type: asha", "type: none")
    spec = parse_spec(text, source="optuna_dcgan.yaml", scale="smoke", seeds=[7, 8])
    search = make_search(spec, tmp_path)
    assert isinstance(search, ResolvedTrials)
    search.set_search_properties("fid", "min", trial_space(spec))
    configs = [search.suggest(f"t{i}") for i in range(4)]
    assert [c["swept"]["train.seed"] for c in configs] == [7, 8, 7, 8]  # two seeds of each configuration
    assert configs[0]["swept"]["optim.g_lr"] == configs[1]["swept"]["optim.g_lr"] != configs[2]["swept"]["optim.g_lr"]
    for c in configs:
        assert TRIAL_INDEX not in c
        assert c["config"] == spec.trial_config(c["swept"]).to_dict()
        assert c["config"]["optim"]["d_lr"] == c["swept"]["optim.d_lr"] and c["config"]["train"]["seed"] in (7, 8)
    for i, fid in enumerate([90.0, 92.0, 150.0, 151.0]):
        search.on_trial_complete(
            f"t{i}", {"fid": fid, Result.EVALUATION: 1, Result.IS_FINAL: 1.0, Result.DIVERGED: 0.0}
        )
    study = search.searcher.searcher._ot_study.get_trials(deepcopy=False)  # ResolvedTrials > SeedReplicates > Optuna
    assert [t.value for t in study] == [91.0, 150.5]  # the inner searchers were told through it
