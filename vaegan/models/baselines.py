"""The VAEs people start from, on the same harness: a 784-400-z MLP and a small conv VAE."""
from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from .vae import VAE


class MLPVAE(VAE):
    """Kingma & Welling's MNIST VAE: 784 -> hidden -> (mu, logvar), z -> hidden -> 784."""

    def __init__(self, latent: int = 2, hidden: int = 400):
        super().__init__()
        self.latent_dims = (latent,)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(),
                                     nn.Linear(hidden, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, 784))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return rearrange(self.decoder(z), "b (c h w) -> b c h w", c=1, h=28)

    @property
    def last_layer(self) -> torch.Tensor:
        return self.decoder[-1].weight


class ConvVAE(VAE):
    """Two stride-2 convs down to 7x7, a dense bottleneck, two transposed convs back up."""

    def __init__(self, latent: int = 20, hidden: int = 400):
        super().__init__()
        self.latent_dims = (latent,)
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * 7 * 7, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent))
        self.decoder = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, 64 * 7 * 7), nn.ReLU(),
            nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 1, 4, 2, 1))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    @property
    def last_layer(self) -> torch.Tensor:
        return self.decoder[-1].weight
