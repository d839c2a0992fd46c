"""vaegan: a U-Net VAE-GAN training system for MNIST-like images."""
__version__ = "0.1.0"
