"""experiments: studies that train networks, write MLflow runs or simulate, over what a sweep recorded.

`analysis/` only reads a sweep; what it cannot compute from the record without training lives here:
the augmentation study (`python -m experiments.augment`: a classifier per mix of real and generated
images), the GAN-test protocol probe (`python -m experiments.gan_test_probe`), and the calibration of
the report's verdicts and of adaptive seeds by simulation (`python -m experiments.calibration`,
`python -m experiments.adaptive_calibration`). Their results are read back by the report
(analysis.augmentation) or printed for the README.
"""
