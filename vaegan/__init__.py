"""vaegan: a U-Net VAE-GAN training system for images: digits, torchvision datasets, your own folders."""
__version__ = "0.1.0"


def load(path, device: str = "auto"):
    """A trained model from a checkpoint or an exported folder; see `vaegan.api`."""
    from .api import load as load_model

    return load_model(path, device)
