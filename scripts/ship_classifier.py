"""Train the domain classifier a spec's sweeps score with, and ship it with the project: the file goes to
gan/metrics/weights/ under its cache name, and its SHA-256 to gan/metrics/weights/SHA256SUMS.

    .venv/bin/python scripts/ship_classifier.py [SPEC.yaml] [--scale SCALE]

By default the main job's (search_spaces/hidden_dims.yaml at smoke scale), which every study spec on
Fashion-MNIST shares. A first run of such a sweep then copies the shipped file into its cache instead of
training it (gan/metrics/classifier.py). tests/gan/metrics/test_shipped_classifier.py checks that retraining
reproduces it.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("spec", nargs="?", default=str(REPO / "search_spaces" / "hidden_dims.yaml"))
    p.add_argument("--scale", default="smoke")
    args = p.parse_args()

    import torch

    from gan.metrics.classifier import SHIPPED, shipped_digests, shipped_file, train_classifier
    from gan.metrics.evaluator import classifier_spec
    from sweeps.specfile import load_spec

    spec = load_spec(args.spec, scale=args.scale)
    cfg = spec.trial_config((spec.trial_configs() or [{}])[0])
    classifier = classifier_spec(spec.evaluation, cfg.data)
    blob = train_classifier(classifier, verbose=True)
    SHIPPED.mkdir(exist_ok=True)
    path = shipped_file(classifier)
    torch.save(blob, path)
    sums = {**shipped_digests(), path.name: hashlib.sha256(path.read_bytes()).hexdigest()}
    (SHIPPED / "SHA256SUMS").write_text("".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items())))
    print(f"shipped {path.relative_to(REPO)} (test accuracy {blob['test_accuracy']:.4f}, "
          f"{torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
