"""A lab's own GAN code, swept by gansweep through `trainable: my_lab.train:run`."""
