"""The CUDA path: training, checkpoints across devices, sampling and evaluation on the GPU.

Skipped without a CUDA device (see conftest.py). Results on the GPU are compared with the CPU within
tolerances, not bit for bit: cuDNN's convolution kernels do not promise bit-identical results.
"""

import math

import pytest
import torch

from gan import Config, Trainer
from gan.config import DataConfig
from gan.metrics import EvalConfig, Evaluator
from tests.helpers import mnist_test_data

pytestmark = pytest.mark.gpu


def config(device: str, **train) -> Config:
    return Config.from_dict({
        "data": mnist_test_data(num_images=640),
        "model": {"arch": "dcgan", "conditional": True, "latent_dim": 8, "g_width": 8, "d_width": 8},
        "train": {"iterations": 20, "eval_every": 10, "batch_size": 32, "device": device, **train},
    })


def test_training_runs_on_the_gpu_and_reports_finite_losses(tmp_path):
    trainer = Trainer(config("cuda"), out_dir=tmp_path)
    assert next(trainer.G.parameters()).is_cuda and trainer.batches.images.is_cuda
    reports = []
    result = trainer.run(reports.append)
    assert result.status == "completed" and result.step == 20
    assert all(math.isfinite(v) for r in reports for v in r.metrics.values())
    images, labels = trainer.generate(50)
    assert images.dtype == torch.uint8 and images.device.type == "cpu" and images.shape == (50, 1, 28, 28)
    assert labels.tolist() == [i % 10 for i in range(50)]


def test_a_gpu_checkpoint_resumes_on_the_gpu_and_loads_on_the_cpu(tmp_path):
    first = Trainer(config("cuda"))
    first.total_steps = 10
    first.run()
    path = first.save(tmp_path / "ckpt.pt")
    resumed = Trainer(config("cuda"))
    resumed.load(path)
    for (k, a), b in zip(first.G.state_dict().items(), resumed.G.state_dict().values()):
        assert torch.equal(a, b), k
    assert resumed.run().status == "completed" and resumed.step == 20
    # the same checkpoint opened by a CPU process (the report, a laptop) gives the same generator
    cpu = Trainer(config("cuda"))  # the config names cuda; only the tensors move
    state = torch.load(path, map_location="cpu", weights_only=True)
    cpu.G.cpu().load_state_dict(state["G"])
    z = torch.randn(16, 8)
    y = torch.arange(16) % 10
    first.G.eval()
    cpu.G.eval()
    with torch.no_grad():
        on_gpu = first.G(z.cuda(), y.cuda()).cpu()
        on_cpu = cpu.G(z, y)
    assert torch.allclose(on_gpu, on_cpu, atol=1e-4)


def test_samples_on_the_gpu_match_the_cpu_for_the_same_weights():
    gpu = Trainer(config("cuda"))
    cpu = Trainer(config("cpu"))
    cpu.G.load_state_dict({k: v.cpu() for k, v in gpu.G.state_dict().items()})
    # the noise comes from a device generator, so draw it on the CPU for both
    z = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(64) % 10
    gpu.G.eval()
    cpu.G.eval()
    with torch.no_grad():
        assert torch.allclose(gpu.G(z.cuda(), y.cuda()).cpu(), cpu.G(z, y), atol=1e-4)


def test_domain_fid_on_the_gpu_agrees_with_the_cpu():
    data = DataConfig(**mnist_test_data())
    metrics = ("fid", "kid", "precision_recall")
    on_gpu = Evaluator(EvalConfig(metrics=metrics, real_samples=2000, device="cuda"), data)
    on_cpu = Evaluator(EvalConfig(metrics=metrics, real_samples=2000, device="cpu"), data)
    assert on_gpu.extractor.device.type == "cuda"
    images = on_cpu.real.images[:1000].flip(-1)  # real digits, mirrored: a clearly imperfect "generator"
    a, b = on_gpu.score_images(images), on_cpu.score_images(images)
    assert a["fid"] == pytest.approx(b["fid"], rel=1e-3)
    assert a["kid"] == pytest.approx(b["kid"], rel=1e-2, abs=1e-4)
    assert a["precision"] == pytest.approx(b["precision"], abs=0.01)


def test_a_pack_of_seeds_trains_on_the_gpu_as_its_separate_runs_do():
    """Seed packing on the GPU (what `resources.pack_seeds` is for): the stacked weights live on the device, and
    after three steps each seed's losses are its separate run's. cuDNN picks other kernels for the pack's grouped
    convolutions, and may round them in TF32, so the tolerance is 1e-2 relative, not the CPU's 1e-4; another
    seed's losses are checked to lie outside it."""
    from gan.packed import PackedTrainer

    seeds = (0, 1)
    configs = [Config.from_dict({**config("cuda").to_dict(), "train": {**config("cuda").to_dict()["train"],
                                                                        "seed": s}}) for s in seeds]
    separate, pack = [Trainer(c) for c in configs], PackedTrainer(configs)
    assert all(p.is_cuda for p in pack.G.parameters())
    for _ in range(3):
        alone = [t.train_step() for t in separate]
        packed = pack.train_step()
    for a, p in zip(alone, packed):
        for k in ("loss_d", "loss_g"):
            torch.testing.assert_close(p[k].cpu(), a[k].cpu(), rtol=1e-2, atol=1e-4)
    assert any(abs(float(packed[0][k]) - float(alone[1][k])) > 1e-2 * abs(float(alone[1][k]))
               for k in ("loss_d", "loss_g"))
