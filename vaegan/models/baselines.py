"""The VAEs people start from, on the same harness: a 784-400-z MLP and a small conv VAE (their
shapes follow the image spec; the names describe them at MNIST's 1x28x28)."""
from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from .vae import VAE


class MLPVAE(VAE):
    """Kingma & Welling's MNIST VAE: 784 -> hidden -> (mu, logvar), z -> hidden -> 784."""

    def __init__(self, latent: int = 2, hidden: int = 400, image_channels: int = 1, image_size: int = 28):
        super().__init__()
        self.latent_dims = (latent,)
        self.image_shape = (image_channels, image_size, image_size)
        pixels = image_channels * image_size * image_size
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(pixels, hidden), nn.ReLU(),
                                     nn.Linear(hidden, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, pixels))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        c, h, w = self.image_shape
        return rearrange(self.decoder(z), "b (c h w) -> b c h w", c=c, h=h, w=w)


class ConvVAE(VAE):
    """Two stride-2 convs down to 1/4 size, a dense bottleneck, two transposed convs back up."""

    def __init__(self, latent: int = 20, hidden: int = 400, image_channels: int = 1, image_size: int = 28):
        super().__init__()
        self.latent_dims = (latent,)
        side = image_size // 4
        self.encoder = nn.Sequential(
            nn.Conv2d(image_channels, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * side * side, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent))
        self.decoder = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, 64 * side * side), nn.ReLU(),
            nn.Unflatten(1, (64, side, side)),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, image_channels, 4, 2, 1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)
