"""studies: what trains networks or writes MLflow runs over what a sweep recorded.

`analysis/` only reads a sweep; what it cannot compute from the record without training lives here:
the augmentation study (`python -m studies.augment`: a classifier per mix of real and generated
images) and the GAN-test protocol probe (`python -m studies.gan_test_probe`). Their results are read
back by the report (`analysis.augmentation`). The calibration simulations of the verdicts live with
the engine they measure, in `stats/`.
"""
