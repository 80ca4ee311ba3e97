"""The outermost searcher of a sweep that has one (`ResolvedTrials`): it resolves each trial's config on
the driver as the trial is made; and the base of searchers that wrap another (`WrappingSearcher`)."""

from __future__ import annotations

from ray.tune.search import Searcher

from record.names import SEED
from sweeps.contract import TRIAL_INDEX

__all__ = ["ResolvedTrials", "WrappingSearcher"]


class WrappingSearcher(Searcher):
    """A searcher around another, `self.searcher` (the name Tune walks to save a chain of wrappers): its
    metric and mode are the inner one's, which Tune sets from the TuneConfig."""

    def __init__(self, searcher: Searcher):
        super().__init__()
        self.searcher = searcher

    @property
    def metric(self) -> str:
        return self.searcher.metric

    @property
    def mode(self) -> str:
        return self.searcher.mode

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return self.searcher.set_search_properties(metric, mode, config, **spec)


class ResolvedTrials(WrappingSearcher):
    """The outermost searcher of a sweep that has one: each suggestion's swept values, with the seed its
    repeat index picks (`TRIAL_INDEX`, or the first seed), and the training config they resolve to
    (`SweepSpec.trial_config`), worked out here on the driver as the trial is created. Tune carries both
    to the trial in its config (a `sweeps.contract.TrialRequest`); everything else is the inner
    searcher's, forwarded as Ray's ConcurrencyLimiter forwards it."""

    def __init__(self, searcher: Searcher, spec):
        super().__init__(searcher)
        self.spec = spec

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return self.searcher.set_max_concurrency(max_concurrent)

    def suggest(self, trial_id: str):
        config = self.searcher.suggest(trial_id)
        if not isinstance(config, dict):
            return config
        config = dict(config)
        swept = dict(config.get("swept") or {})
        index = config.pop(TRIAL_INDEX, None)
        if index is not None or SEED not in swept:
            swept[SEED] = self.spec.seeds[int(index or 0)]
        return {**config, "swept": swept, "levels": self.spec.factor_levels(swept),
                "config": self.spec.trial_config(swept).to_dict()}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.searcher.on_trial_complete(trial_id, result=result, error=error)

    # Tune saves a chain of wrappers (each with a `.searcher`) by each one's get_state, and the innermost by its
    # own files: this one holds nothing but the spec it was built with
    def get_state(self) -> dict:
        return {}

    def set_state(self, state: dict) -> None:
        pass

    def save(self, checkpoint_path: str) -> None:
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.searcher.restore(checkpoint_path)
