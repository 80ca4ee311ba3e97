"""The built-ins' declarations (gan.builtins): `import gan` registers every built-in without importing torch, and
what each declares is what its implementation carries."""

import subprocess
import sys

import pytest

from gan._registry import ARCHITECTURES, DATASETS, LABEL_ENCODINGS, LOSSES, Lazy
from gan.metrics.registry import EXTRACTORS, METRICS
from tests.helpers import REPO

REGISTRIES = {"architecture": ARCHITECTURES, "label encoding": LABEL_ENCODINGS, "loss": LOSSES,
              "feature extractor": EXTRACTORS, "metric": METRICS}
BUILT_IN = [(kind, name) for kind, reg in REGISTRIES.items() for name in reg.names()
            if isinstance(reg.get(name), Lazy)]


def test_import_gan_registers_every_built_in_and_importing_the_rest_registers_nothing_more():
    """A built-in registered as a side effect of importing its implementation would be unknown to a spec's check,
    which imports none of them."""
    probe = """
import importlib, pkgutil, sys
import gan
from gan._registry import ARCHITECTURES, DATASETS, LABEL_ENCODINGS, LOSSES
from gan.metrics.registry import EXTRACTORS, METRICS
registries = (ARCHITECTURES, DATASETS, LABEL_ENCODINGS, LOSSES, EXTRACTORS, METRICS)
before = [r.names() for r in registries]
assert 'torch' not in sys.modules, 'import gan imported torch'
for module in pkgutil.walk_packages(gan.__path__, 'gan.'):
    if module.name != 'gan.__main__':
        importlib.import_module(module.name)
assert 'torch' in sys.modules
after = [r.names() for r in registries]
assert before == after, (before, after)
print(sum(map(len, after)))
"""
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) >= 2 + 6 + 3 + 3 + 2 + 8  # the built-ins of each registry, plugins aside


def test_every_built_in_is_declared():
    assert {name for kind, name in BUILT_IN if kind == "architecture"} >= {"dcgan", "mlp"}
    assert {name for kind, name in BUILT_IN if kind == "metric"} >= {"fid", "kid", "gan_test", "memorization"}
    assert "fashion_mnist" in DATASETS


@pytest.mark.parametrize("kind, name", BUILT_IN)
def test_a_built_in_loads_and_carries_what_it_declares(kind, name):
    entry = REGISTRIES[kind].get(name)
    implementation = REGISTRIES[kind].load(name)
    assert not isinstance(implementation, Lazy) and implementation is entry.load()
    for fact, value in entry.facts.items():
        assert getattr(implementation, fact) == value, (name, fact)
    for encoding in entry.facts.get("label_encodings", ()):
        assert encoding in LABEL_ENCODINGS, (name, encoding)


def test_a_subclass_of_a_built_in_loss_inherits_its_refusals():
    """A plugin's variant of the gradient-penalty loss is refused with train.compile as the built-in is."""
    from gan.losses import WGANGPLoss

    assert type("MyGP", (WGANGPLoss,), {}).double_backward is True
