"""The levers `auto` picks (gan.numerics): bf16 only where the hardware multiplies it natively, channels-last only
on a GPU or an AVX-512 CPU, so that no lever picked by itself runs slower than fp32 in the contiguous layout on
the CPU it runs on (an AVX2-only Zen 2 EPYC: bf16 0.09x, channels-last 1.00x; the AVX-512 Xeon: 1.3x, 1.1x)."""

import pytest
import torch

from gan import Config, Trainer
from gan import numerics
from tests.helpers import mnist_test_data

ZEN2 = frozenset("fpu sse sse2 avx avx2 fma bmi2 sha_ni".split())  # an AVX2-only EPYC's flags (abridged)
SAPPHIRE_RAPIDS = ZEN2 | {"avx512f", "avx512bw", "avx512_bf16", "amx_tile", "amx_bf16"}


@pytest.fixture
def cpu(monkeypatch):
    """Makes the process see the given CPU: its flags, and PyTorch's kernel capability for them."""
    def see(flags: frozenset):
        monkeypatch.setattr(numerics, "cpu_flags", lambda: flags)
        capability = "AVX512" if "avx512f" in flags else "AVX2"
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    return see


def _trainer(precision, channels_last) -> Trainer:
    return Trainer(Config.from_dict({
        "data": mnist_test_data(num_images=64),
        "model": {"arch": "dcgan", "g_width": 8, "d_width": 8},
        "train": {"iterations": 1, "batch_size": 8, "device": "cpu", "precision": precision,
                  "channels_last": channels_last},
    }))


def test_auto_takes_fp32_and_the_contiguous_layout_on_an_avx2_cpu(cpu):
    cpu(ZEN2)
    assert numerics.resolve_precision("auto", "cpu") == "fp32"
    t = _trainer("auto", "auto")
    assert (t.precision, t.channels_last) == ("fp32", False)
    conv = next(m for m in t.G.modules() if isinstance(m, torch.nn.ConvTranspose2d))
    assert conv.weight.is_contiguous()  # not in channels-last
    stats = t.train_step()
    assert all(torch.isfinite(v) for v in stats.values())


def test_auto_takes_bf16_and_channels_last_on_a_cpu_with_native_bf16(cpu):
    cpu(SAPPHIRE_RAPIDS)
    t = _trainer("auto", "auto")
    assert (t.precision, t.channels_last) == ("bf16", True)
    conv = next(m for m in t.G.modules() if isinstance(m, torch.nn.ConvTranspose2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_an_explicit_lever_is_kept_whatever_the_cpu_and_mlps_never_take_channels_last(cpu):
    cpu(ZEN2)
    assert numerics.resolve_precision("bf16", "cpu") == "bf16"
    assert numerics.use_channels_last(True, torch.nn.Linear(2, 2)) is True
    cpu(SAPPHIRE_RAPIDS)
    assert numerics.use_channels_last("auto", torch.nn.Linear(2, 2)) is False


def test_this_machine_never_gets_bf16_by_itself_without_native_bf16():
    """On the CPU the suite runs on, read for real: auto's precision is bf16 exactly where /proc/cpuinfo lists
    AVX-512 BF16 or AMX."""
    flags = numerics.cpu_flags()
    native = bool({"avx512_bf16", "amx_bf16"} & flags)
    assert numerics.resolve_precision("auto", "cpu") == ("bf16" if native else "fp32")


def test_a_run_resumed_on_another_cpu_goes_on_at_the_precision_it_started_at(cpu, tmp_path):
    """`auto` resolved to bf16 where the run started; resumed on an AVX2 CPU it stays bf16 (its FID is then one
    run's, not half of each), and every report says what it trained in."""
    cpu(SAPPHIRE_RAPIDS)
    first = _trainer("auto", False)
    reports = []
    first.run(reports.append)
    assert reports[-1].metrics["trained_bf16"] == 1.0
    first.save(tmp_path / "ckpt.pt")
    cpu(ZEN2)
    resumed = _trainer("auto", False)
    assert resumed.precision == "fp32"
    resumed.load(tmp_path / "ckpt.pt")
    assert resumed.precision == "bf16"
