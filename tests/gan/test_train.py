import pytest
import torch
from PIL import Image

from gan import Config, Trainer, train
from record.status import Status
from tests.helpers import mnist_test_data


def config(sections: dict | None = None, **more) -> Config:
    raw = {
        "data": mnist_test_data(num_images=640),
        "model": {"arch": "dcgan", "latent_dim": 8, "g_width": 8, "d_width": 8},
        "train": {"iterations": 10, "eval_every": 5, "batch_size": 32},
    }
    for extra in (sections or {}, more):
        for k, v in extra.items():
            raw.setdefault(k, {}).update(v)
    return Config.from_dict(raw)


def weights(trainer):
    return {
        **{f"G.{k}": v for k, v in trainer.G.state_dict().items()},
        **{f"D.{k}": v for k, v in trainer.D.state_dict().items()},
    }


@pytest.mark.parametrize(
    "sections",
    [
        {"loss": {"label_smoothing": 0.15, "label_smoothing_random": True}, "model": {"conditional": True}},
        {"model": {"arch": "mlp", "dropout": 0.5, "conditional": True, "sample_in_train_mode": True}},
        {"loss": {"name": "wgan-gp"}, "train": {"n_critic": 3}},
        {"loss": {"name": "wgan-gp"}, "train": {"precision": "bf16", "channels_last": True}},
        {"train": {"precision": "fp16"}},  # the gradient scalers' scale and growth count resume too
    ],
    ids=["dcgan-bce-smoothing", "mlp-dropout", "wgan-gp", "wgan-gp-bf16-channels-last", "fp16"],
)
def test_resume_equals_uninterrupted(tmp_path, sections):
    full = Trainer(config(sections), out_dir=tmp_path / "full")
    full.run()

    first = Trainer(config(sections), out_dir=tmp_path / "a")
    first.total_steps = 5  # stop half way, as a scheduler or a crash would
    first.run()
    ckpt = first.save(tmp_path / "ckpt.pt")
    del first
    torch.manual_seed(12345)  # a resumed process starts with whatever global RNG state it has
    second = Trainer(config(sections), out_dir=tmp_path / "b")
    second.load(ckpt)
    assert second.step == 5
    second.run()

    a, b = weights(full), weights(second)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # and the check is not vacuous: a different seed gives different weights
    other = Trainer(config(sections, train={"seed": 1}))
    other.run()
    assert any(not torch.equal(a[k], v) for k, v in weights(other).items())


def test_checkpoint_of_another_config_is_refused(tmp_path):
    t = Trainer(config())
    path = t.save(tmp_path / "c.pt")
    with pytest.raises(ValueError, match=r"different config \(model.latent_dim: 8 in the checkpoint, 9 now"):
        Trainer(config(model={"latent_dim": 9})).load(path)


def test_checkpoint_from_before_a_setting_existed_resumes_with_its_default(tmp_path):
    # a sweep started before an option was added holds checkpoints without it; it trained with the default
    t = Trainer(config())
    t.run()
    state = t.state_dict()
    del state["config"]["loss"]["classifier_weight"], state["config"]["model"]["kernel_size"]
    torch.save(state, tmp_path / "old.pt")
    resumed = Trainer(config())
    resumed.load(tmp_path / "old.pt")
    assert resumed.step == t.step
    # but not when the setting now differs from what the old run trained with
    with pytest.raises(ValueError, match="loss.classifier_weight: 0.0 in the checkpoint, 0.5 now"):
        Trainer(config(loss={"classifier_weight": 0.5}, model={"conditional": True})).load(tmp_path / "old.pt")
    # and a key this version does not know is refused with the reason
    state["config"]["model"]["no_such_option"] = 1
    torch.save(state, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="not valid in this version.*no_such_option"):
        Trainer(config()).load(tmp_path / "future.pt")


def test_absurd_learning_rate_ends_as_diverged_not_exception():
    reports = []
    result = train(config(optim={"g_lr": 1e30}, train={"iterations": 500, "eval_every": 100}), report=reports.append)
    assert result.status == "diverged"
    assert result.step < 500
    assert reports and reports[-1].diverged


def test_reports_count_evaluations_with_a_last_one_between():
    reports = []
    cfg = config(train={"iterations": 25, "eval_every": 10})
    result = train(cfg, report=reports.append)
    assert result.status == Status.COMPLETED == "completed"
    assert [(r.step, r.evaluation) for r in reports] == [(10, 1), (20, 2), (25, 3)]
    assert cfg.train.evaluations_for(640) == 3  # what a scheduler is told as max_t


def test_epochs_convert_to_iterations_and_reports_carry_losses():
    t = Trainer(config(train={"iterations": None, "epochs": 1.5, "eval_every": 10}))
    assert t.total_steps == 30  # ceil(1.5 * 640 / 32)
    reports = []
    t.run(report=reports.append)
    assert [r.step for r in reports] == [10, 20, 30]
    assert reports[-1].epoch == pytest.approx(1.5)
    assert {"loss_d", "loss_g", "d_real", "d_fake", "iters_per_sec", "wall_time_s"} <= set(reports[-1].metrics)
    assert reports[-1].metrics["wall_time_s"] > reports[0].metrics["wall_time_s"]


def test_sample_grid_png_one_row_per_class(tmp_path):
    t = Trainer(config(model={"conditional": True}, train={"grid_columns": 4}), out_dir=tmp_path)
    reports = []
    t.run(report=reports.append)
    assert [r.grid_path.name for r in reports] == ["step_0000005.png", "step_0000010.png"]
    with Image.open(reports[-1].grid_path) as im:
        # 10 classes x 4 columns of 28px images with 2px padding
        assert im.size == (4 * 30 + 2, 10 * 30 + 2)


def test_sampling_in_train_mode_leaves_batch_norm_statistics_alone():
    t = Trainer(config(model={"arch": "mlp", "dropout": 0.5, "sample_in_train_mode": True}))
    before = [b.clone() for b in t.G.buffers()]
    rng = torch.get_rng_state()
    a, _ = t.generate(64, seed=3)
    b, _ = t.generate(64, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(before, t.G.buffers()))
    assert torch.equal(rng, torch.get_rng_state())
    assert torch.equal(a, b)  # seeded: dropout masks come from the sampling seed
    assert a.float().std() > 0
    frozen = Trainer(config(model={"arch": "mlp", "dropout": 0.5}))
    assert not torch.equal(a, frozen.generate(64, seed=3)[0])  # eval mode: no dropout, running BN stats


def _histogram_distance(fake_u8: torch.Tensor, real_u8: torch.Tensor) -> float:
    """L1 distance between the pixel-intensity histograms of two image sets."""
    hf = torch.histc(fake_u8.float(), bins=32, min=0, max=255) / fake_u8.numel()
    hr = torch.histc(real_u8.float(), bins=32, min=0, max=255) / real_u8.numel()
    return float((hf - hr).abs().sum())


def test_short_real_run_moves_generator_toward_fashion_mnist():
    cfg = Config.from_dict(
        {
            "data": {"name": "fashion_mnist", "num_images": 12000},
            "model": {"arch": "dcgan", "conditional": True, "latent_dim": 32, "g_width": 16, "d_width": 16},
            "train": {"iterations": 250, "eval_every": 250, "batch_size": 64},
        }
    )
    t = Trainer(cfg)
    real = t.data.images[:2000]
    start_hist = _histogram_distance(t.generate(2000)[0], real)
    start_mean = (t.generate(2000)[0].float().mean(0) - real.float().mean(0)).abs().mean()
    assert t.run().status == "completed"
    fake = t.generate(2000)[0]
    end_hist = _histogram_distance(fake, real)
    end_mean = (fake.float().mean(0) - real.float().mean(0)).abs().mean()
    # measured 1.95 -> 0.86 (1 thread) and 0.88 (2 threads) for the histogram, 60 -> 8.3-8.6 for the mean image;
    # an untrained or broken loop stays near the start. 0.7 leaves room for other machines' arithmetic.
    assert end_hist < 0.7 * start_hist, (start_hist, end_hist)
    assert end_mean < 0.5 * start_mean, (start_mean, end_mean)


def test_a_time_budget_ends_the_run_with_a_final_report():
    reports = []
    t = Trainer(config(train={"iterations": 100000, "eval_every": 1000, "max_seconds": 1.0}))
    result = t.run(reports.append)
    assert result.status == "completed" and 0 < result.step < 100000
    assert reports[-1].final and reports[-1].step == result.step
    assert 1.0 <= reports[-1].metrics["wall_time_s"] < 5.0  # stops at the first iteration past the budget
    assert all(not r.final for r in reports[:-1])


def conv_output_dtypes_of_a_step(t: Trainer) -> tuple[list, dict]:
    """The dtypes the convolutions of G and D output during one training step, and the step's statistics."""
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
             for m in (*t.G.modules(), *t.D.modules()) if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    out = t.train_step()
    for h in hooks:
        h.remove()
    return seen, out


def test_bf16_runs_the_networks_in_bf16_and_keeps_weights_gradients_and_optimizer_state_in_fp32():
    t = Trainer(config(train={"precision": "bf16"}))
    seen, out = conv_output_dtypes_of_a_step(t)
    assert seen and set(seen) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in t.G.parameters())
    assert all(v.dtype == torch.float32 for st in t.opt_g.state.values() for v in st.values() if v.dim())
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in out.values())
    seen, _ = conv_output_dtypes_of_a_step(Trainer(config()))
    assert seen and set(seen) == {torch.float32}


def test_fp16_runs_the_networks_in_fp16_scales_the_losses_and_keeps_the_scale_in_its_checkpoints(tmp_path):
    t = Trainer(config(train={"precision": "fp16"}))
    seen, out = conv_output_dtypes_of_a_step(t)
    assert seen and set(seen) == {torch.float16}
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in t.G.parameters())
    assert all(torch.isfinite(v) for v in out.values())
    # the scalers start at 2**16; a step whose gradients overflow halves the scale and is skipped
    assert t.scale_d.is_enabled() and t.scale_g.get_scale() in (2.0**16, 2.0**15)
    t.scale_g.update(new_scale=1024.0)  # as after a run of overflows
    state = torch.load(t.save(tmp_path / "c.pt"), weights_only=True)
    assert state["scale_g"]["scale"] == 1024.0 and not Trainer(config()).state_dict()["scale_g"]
    resumed = Trainer(config(train={"precision": "fp16"}))
    resumed.load(tmp_path / "c.pt")
    assert resumed.scale_g.get_scale() == 1024.0 and resumed.scale_d.get_scale() == t.scale_d.get_scale()


def test_fp16_with_a_gradient_penalty_is_refused_before_any_work():
    from gan import ConfigError

    with pytest.raises(ConfigError, match="fp16.*gradient penalty.*bf16"):
        config(loss={"name": "wgan-gp"}, train={"precision": "fp16"})


def test_channels_last_lays_out_convolution_weights_and_auto_picks_it_for_convolutional_networks_only(monkeypatch):
    # as on an AVX-512 CPU, where auto picks it (on others it is off: tests/gan/test_numerics.py)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    on = Trainer(config(train={"channels_last": "auto"}))
    assert on.channels_last and all(p.is_contiguous(memory_format=torch.channels_last)
                                    for p in on.D.parameters() if p.dim() == 4)
    assert not Trainer(config(model={"arch": "mlp"}, train={"channels_last": "auto"})).channels_last
    assert not Trainer(config()).channels_last  # the default: the layout the studies trained in


def test_a_checkpoint_resumes_only_at_the_precision_it_was_trained_in(tmp_path):
    path = Trainer(config()).save(tmp_path / "c.pt")
    with pytest.raises(ValueError, match=r"train.precision: 'fp32' in the checkpoint, 'bf16' now"):
        Trainer(config(train={"precision": "bf16"})).load(path)


@pytest.mark.parametrize("setting, message", [({"precision": "fp8"}, "train.precision"),
                                              ({"channels_last": "yes"}, "train.channels_last")])
def test_unknown_precision_and_layout_settings_are_refused_with_what_is_allowed(setting, message):
    from gan import ConfigError

    with pytest.raises(ConfigError, match=message):
        config(train=setting)


@pytest.mark.slow
def test_a_compiled_trainer_times_its_compiling_apart_and_trains_as_the_eager_one(tmp_path):
    eager, compiled = Trainer(config()), Trainer(config(train={"compile": True}))
    assert compiled.step_D is not compiled.D and eager.step_D is eager.D
    reports = []
    compiled.run(reports.append)
    eager.run()
    first = reports[0].metrics
    # the first step compiles (seconds); the window it falls in is timed without it
    assert first["compile_time_s"] > 1.0 and first["wall_time_s"] < first["compile_time_s"]
    assert all(r.metrics["compile_time_s"] == first["compile_time_s"] for r in reports)
    # the same arithmetic in fused kernels: after 10 steps the weights agree to float rounding grown by Adam
    # (measured 7.5e-5 apart at most); one step fewer moves them 3e-2, so 1e-3 tells the two apart
    a, b = weights(eager), weights(compiled)
    assert a.keys() == b.keys()  # the checkpoint holds the networks themselves, not the compiled wrappers
    assert max(float((a[k].float() - b[k].float()).abs().max()) for k in a) < 1e-3
    # compiling is how the steps run, not what they compute: its checkpoints resume eagerly and back
    path = compiled.save(tmp_path / "c.pt")
    Trainer(config()).load(path)


def test_compile_is_refused_for_a_loss_that_differentiates_the_critics_gradient():
    from gan import ConfigError

    with pytest.raises(ConfigError, match="`train.compile` is true, but loss 'wgan-gp'"):
        config(loss={"name": "wgan-gp"}, train={"compile": True})
