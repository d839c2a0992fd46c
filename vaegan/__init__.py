"""vaegan: a U-Net VAE-GAN training system for images: digits, torchvision datasets, your own folders."""
__version__ = "0.1.0"


def load(path, device: str = "auto"):
    """A trained model from a checkpoint or an exported folder; see `vaegan.api`."""
    from .api import load as load_model

    return load_model(path, device)


def __getattr__(name: str):
    # Imported on first use: diffusers' import takes seconds, which `import vaegan` should not.
    if name == "LatentPriorPipeline":
        from .pipeline import LatentPriorPipeline

        return LatentPriorPipeline
    raise AttributeError(f"module 'vaegan' has no attribute {name!r}")
