"""The Tune run of a sweep: a Tuner built from the spec (or restored on --resume) and its fit, with
SIGTERM handled as the Ctrl-C Tune saves its state on."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

from sweeps._ray import use_callbacks_on_restore
from sweeps.location import Where
from sweeps.ledger import Ledger
from sweeps.schedulers import make_scheduler, make_search
from sweeps.space import trial_space
from sweeps.specfile import SweepSpec

__all__ = ["build_tuner", "fit"]


def build_tuner(spec: SweepSpec, where: Where, callbacks: list, resume: bool, verbose: int):
    """A new Tuner for the spec, or on --resume the one Tune saved."""
    from ray import tune

    trainable = tune.with_resources(_trainable(spec), {"cpu": spec.resources.cpus, "gpu": spec.resources.gpus})
    path = str(where.experiment_path)
    if resume and tune.Tuner.can_restore(path):
        from sweeps.tunestate import read_earlier_modules

        print(f"resuming {path}", flush=True)
        read_earlier_modules()  # a sweep an earlier release started pickled module names since renamed
        tuner = tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True, resume_errored=True,
                                   restart_errored=False)
        use_callbacks_on_restore(tuner, callbacks)
        return tuner
    scheduler, search_alg = make_scheduler(spec, where.out), make_search(spec, where.out)
    return tune.Tuner(
        trainable,
        param_space=trial_space(spec),
        tune_config=tune.TuneConfig(
            metric=spec.metric, mode=spec.mode, search_alg=search_alg, scheduler=scheduler,
            # adaptive: one more than it can run, so that Tune asks the searcher again after the last round and
            # it takes its last look
            num_samples=spec.num_trials() + 1 if spec.adaptive else spec.num_trials() if spec.method == "optuna" else 1,
            max_concurrent_trials=spec.max_concurrent or None, reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=where.run_name, storage_path=where.storage, callbacks=callbacks, verbose=verbose,
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        ),
    )


def _trainable(spec: SweepSpec):
    """The function every trial runs: the built-in trainer's, or the one that calls the user's own (sweeps.own)."""
    if spec.trainable is not None:
        from sweeps.own import run_own_trial

        return run_own_trial
    from sweeps.trainable import run_trial

    return run_trial


@contextlib.contextmanager
def terminate_as_interrupt():
    """SIGTERM (a cluster job being stopped, `kill`) reaches Tune as the Ctrl-C it handles: stop the
    trials, save the state, return. A second Ctrl-C or SIGTERM raises KeyboardInterrupt at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def fit(tuner, ledger: Ledger) -> bool:
    """Run Tune; returns True when the sweep was interrupted (Ctrl-C, SIGTERM) before every trial ended.

    On the first interrupt Tune stops the trials, saves its state and returns; a second one raises
    KeyboardInterrupt out of Tune, which is caught here: the state Tune saved at its last step (and the
    backup of it) is what --resume continues from. After a storage fault stopped the sweep, Tune's own
    summary of the results can fail on that storage (a truncated error file): the sweep has stopped all
    the same, and says why.
    """
    try:
        with terminate_as_interrupt():
            tuner.fit()
    except KeyboardInterrupt:
        return True
    except Exception as e:
        if ledger.fault is None:
            raise
        print(f"Tune's result summary failed on the faulty storage ({type(e).__name__}: {e})", file=sys.stderr)
        return True
    return ledger.unsettled() > 0
