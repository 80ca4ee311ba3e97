"""Seed packing (gan.packed): a pack's seeds train as their separate runs do, up to the order of arithmetic."""

import pytest
import torch

from gan import Config, Trainer
from gan.config import ConfigError, DataConfig
from gan.metrics.config import EvalConfig
from gan.metrics.evaluator import Evaluator
from gan.packed import PackedTrainer, pack_refusal
from record.status import Status
from tests.helpers import mnist_test_data

SEEDS = (0, 1, 2)


def config(seed: int = 0, **sections) -> Config:
    raw = {
        "data": mnist_test_data(num_images=2000),
        "model": {"arch": "dcgan", "latent_dim": 16, "g_width": 8, "d_width": 8},
        # on the CPU: where a GPU runs these, its TF32 convolutions would round otherwise (not measured there)
        "train": {"iterations": 10, "eval_every": 5, "batch_size": 32, "channels_last": False, "seed": seed,
                  "device": "cpu"},
    }
    for k, v in sections.items():
        raw.setdefault(k, {}).update(v)
    return Config.from_dict(raw)


def pair(seeds=SEEDS, **sections):
    """Separate trainers and a pack of the same seeds, none of them stepped yet."""
    return [Trainer(config(s, **sections)) for s in seeds], PackedTrainer([config(s, **sections) for s in seeds])


@pytest.mark.parametrize("sections, why", [
    ({"loss": {"name": "wgan-gp"}}, "wgan-gp"),
    ({"loss": {"label_smoothing": 0.1, "label_smoothing_random": True}}, "label_smoothing_random"),
    ({"model": {"arch": "mlp", "dropout": 0.5}}, "dropout"),
    ({"train": {"precision": "fp16"}}, "fp16"),
    ({"train": {"precision": "bf16"}}, "bf16"),
    ({"train": {"compile": True}}, "compile"),
    ({"train": {"channels_last": True}}, "channels_last"),
])
def test_what_would_not_train_as_separate_runs_is_refused_with_the_reason(sections, why):
    assert why in pack_refusal(config(**sections))
    with pytest.raises(ConfigError, match="cannot be packed"):
        PackedTrainer([config(0, **sections), config(1, **sections)])
    assert pack_refusal(config()) is None
    assert pack_refusal(config(model={"arch": "mlp"}, loss={"name": "wgan"})) is None


def test_a_pack_is_one_configuration_with_distinct_seeds():
    with pytest.raises(ConfigError, match="optim.g_lr"):
        PackedTrainer([config(0), config(1, optim={"g_lr": 0.001})])
    with pytest.raises(ConfigError, match="must differ"):
        PackedTrainer([config(0), config(0)])


@pytest.mark.parametrize("sections", [
    {},
    {"model": {"conditional": True}, "loss": {"label_smoothing": 0.1}, "train": {"n_critic": 2}},
    {"model": {"conditional": True, "label_encoding": "conv"}},
    {"model": {"arch": "mlp", "conditional": True, "label_encoding": "onehot"}},
    {"model": {"arch": "mlp"}, "loss": {"name": "wgan"}, "optim": {"name": "rmsprop", "g_lr": 5e-5, "d_lr": 5e-5}},
    {"model": {"batch_norm": False}, "optim": {"weight_decay": 1e-4}},
], ids=["dcgan-bce", "conditional-smoothing-2-critic-steps", "conv-labels", "mlp-onehot-labels", "mlp-wgan-rmsprop",
        "no-norm-weight-decay"])
def test_each_seeds_losses_and_gradients_are_its_separate_runs(sections):
    """Three steps from the same start: each seed's losses and its last G and D gradients equal its separate
    run's to float32 rounding (the pack computes them in another order). Gradients, not weights, are compared:
    Adam divides by the gradient's own size, so a gradient of 1e-9 against 2e-9 moves a weight by lr/10."""
    separate, pack = pair(**sections)
    tol = {"rtol": 1e-4, "atol": 1e-6}
    for _ in range(3):
        alone = [t.train_step() for t in separate]
        packed = pack.train_step()
    for s, (a, p) in enumerate(zip(alone, packed)):
        assert a.keys() == p.keys()
        for k in a:
            torch.testing.assert_close(p[k], a[k], **tol, msg=f"seed {SEEDS[s]}, {k}")
    for net in ("G", "D"):
        stacked = getattr(pack, net).params
        for s, t in enumerate(separate):
            # absolute tolerance on the network's gradient scale: a bias under batch norm has a gradient of zero
            # in exact arithmetic, rounding noise of 1e-8 in either. A first layer's weight gradient sums a batch
            # times its positions (32 x 14 x 14 = 6272 products) after three steps of rounding apart; in float32
            # that is about sqrt(6272) x 1.2e-7 = 1e-5 of a term. Measured (Xeon): at most 1.0e-6 of the scale on
            # one thread, 0.8e-6 on two, which 1e-6 left no room for; another seed's gradient is 1e-2 away or more
            scale = max(p.grad.abs().max().item() for p in getattr(t, net).parameters())
            for name, param in getattr(t, net).named_parameters():
                torch.testing.assert_close(stacked[name].grad[s], param.grad, rtol=tol["rtol"],
                                           atol=1e-5 * scale, msg=f"seed {SEEDS[s]}, {net}.{name}")
    # the comparison can fail: another seed's gradients are not these
    name = next(iter(pack.D.params))
    g0, g1 = dict(separate[0].D.named_parameters())[name].grad, pack.D.params[name].grad[1]
    assert not torch.allclose(g0, g1, rtol=1e-2, atol=1e-4)


def test_each_seeds_fid_after_training_is_its_separate_runs(tmp_path):
    """200 steps of each seed packed and alone, scored on 2000 samples against the real MNIST test digits. Float
    rounding grows through a GAN's training: here the packed FIDs were within 0.04% of the separate ones while
    the seeds spread over 26% (Xeon); with latent 100 on Fashion-MNIST, 0.02% to 0.6% at 300 steps and 0.4% to
    3.2% at 1000. A 2% bound per seed, and a tenth of the seeds' spread, fail for a pack that mixes seeds'
    batches, noise or weights."""
    sections = {"train": {"iterations": 200, "eval_every": 100}}
    separate, pack = pair(**sections)
    for t in separate:
        t.run()
    results = pack.run()
    assert [r.status for r in results] == [Status.COMPLETED] * len(SEEDS)
    evaluator = Evaluator(EvalConfig(num_samples=2000, fid_bootstrap=0), DataConfig(**mnist_test_data()))
    alone = [evaluator.evaluate(t.generate)["fid"] for t in separate]
    packed = [evaluator.evaluate(t.generate)["fid"] for t in pack.trainers]
    spread = max(alone) - min(alone)
    assert spread > 0.05 * min(alone), alone  # the seeds are told apart, so a mix-up would show
    for s, a, p in zip(SEEDS, alone, packed):
        assert abs(p - a) < min(0.02 * a, spread / 10), (s, alone, packed)


def test_a_packs_checkpoints_are_each_seeds_own_and_resume_the_pack(tmp_path):
    full = PackedTrainer([config(s) for s in SEEDS])
    full.run()

    first = PackedTrainer([config(s) for s in SEEDS])
    for t in first.trainers:
        t.total_steps = 5  # stopped half way
    first.run()
    paths = first.save([tmp_path / f"seed{s}.pt" for s in SEEDS])
    # a seed's file holds its own weights, not the stacked storage its views point into
    one = torch.load(paths[0], weights_only=True)
    assert all(v.untyped_storage().nbytes() == v.numel() * v.element_size() for v in one["G"].values() if v.numel())

    second = PackedTrainer([config(s) for s in SEEDS])
    second.load(paths)
    assert [t.step for t in second.trainers] == [5] * len(SEEDS)
    second.run()
    for a, b in zip(full.trainers, second.trainers):
        for net in ("G", "D"):
            for (name, x), y in zip(getattr(a, net).state_dict().items(), getattr(b, net).state_dict().values()):
                assert torch.equal(x, y), (net, name)
    for opt in ("opt_g", "opt_d"):
        x, y = getattr(full, opt).state_dict()["state"], getattr(second, opt).state_dict()["state"]
        assert x.keys() == y.keys()
        assert all(torch.equal(x[i][k], y[i][k]) for i in x for k in x[i])
    # the seed's own trainer saves the same checkpoint as the pack does for it
    assert torch.equal(second.trainers[2].state_dict()["opt_g"]["state"][0]["exp_avg"],
                       second.state_dicts()[2]["opt_g"]["state"][0]["exp_avg"])

    # a seed's checkpoint is an ordinary one: a separate run resumes it, with that seed's weights and Adam state
    alone = Trainer(config(SEEDS[1]))
    alone.load(paths[1])
    assert alone.step == 5
    for x, y in zip(alone.D.parameters(), first.trainers[1].D.parameters()):
        assert torch.equal(x, y)
    moments = [alone.opt_d.state[p]["exp_avg"] for p in alone.D.parameters()]
    stacked = [first.opt_d.state[p]["exp_avg"][1] for p in first.D.parameters()]
    assert all(torch.equal(x, y) for x, y in zip(moments, stacked))


def test_a_seed_that_diverges_ends_alone_and_the_pack_trains_on():
    clean = PackedTrainer([config(s, train={"iterations": 40, "eval_every": 20}) for s in SEEDS])
    clean.run()
    pack = PackedTrainer([config(s, train={"iterations": 40, "eval_every": 20}) for s in SEEDS])
    reports = {s: [] for s in SEEDS}
    step = pack.train_step

    def poisoned():
        if pack.trainers[0].step == 7:  # seed 1's generator breaks at step 8
            with torch.no_grad():
                for p in pack.G.parameters():
                    p[1].fill_(float("nan"))
        return step()

    pack.train_step = poisoned
    results = pack.run([reports[s].append for s in SEEDS])
    assert [r.status for r in results] == [Status.COMPLETED, Status.DIVERGED, Status.COMPLETED]
    assert [r.step for r in results] == [40, 20, 40]  # the NaN is found at the next check (every 20 steps here)
    assert [r.step for r in reports[1]] == [20] and reports[1][-1].diverged
    for s in (0, 2):
        assert [r.step for r in reports[s]] == [20, 40]
        # the NaN stays in its seed: the others train exactly as in a pack without it
        for x, y in zip(pack.trainers[s].G.state_dict().values(), clean.trainers[s].G.state_dict().values()):
            torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-7)
