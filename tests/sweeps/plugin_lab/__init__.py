"""A lab's own GAN, as a user would write it: a plugin package that a spec names (`plugins: [plugin_lab.gans]`)."""
