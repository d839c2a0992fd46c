"""What every VAE in vaegan shares: encode to (mu, logvar), reparameterize, decode z.

A decoder's output becomes images in [0, 1] one of two ways (`to_images`): a sigmoid decoder
returns logits (images = sigmoid(logits), so the BCE loss can use the numerically stable
`binary_cross_entropy_with_logits`); a linear decoder returns images in [-1, 1], diffusers'
AutoencoderKL convention (images = (out + 1) / 2), which is what lets it export as one exactly.
The name `logits` below stands for either kind of output.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn


def to_images(logits: torch.Tensor, linear: bool) -> torch.Tensor:
    """A decoder's output as images on the [0, 1] scale, unclamped (what the losses see)."""
    return (logits + 1.0) / 2.0 if linear else torch.sigmoid(logits)


@dataclass
class VAEOutput:
    logits: torch.Tensor  # [B, C, H, W] decoder output (see the module docstring)
    mu: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor
    prior_logits: torch.Tensor | None = None  # decodes of prior draws, when forward() was given them
    linear: bool = False  # the decoder's output kind: images = (logits + 1) / 2 rather than sigmoid(logits)

    @property
    def recon(self) -> torch.Tensor:
        """The reconstructions as images in [0, 1]."""
        return to_images(self.logits, self.linear).clamp(0.0, 1.0)

    @property
    def images(self) -> torch.Tensor:
        """The reconstructions as the losses and the critics see them: fp32, on the [0, 1] scale,
        unclamped (a linear decoder's overshoot is something the critic may judge)."""
        return to_images(self.logits.float(), self.linear)

    @property
    def sample_images(self) -> torch.Tensor | None:
        """The decoded prior draws as the losses and the sample critic see them (see `images`)."""
        return None if self.prior_logits is None else to_images(self.prior_logits.float(), self.linear)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
    """z = mu + sigma * eps; `noise` supplies eps (the trainer draws it for the global batch, so K
    data-parallel ranks sample exactly what one process would)."""
    eps = torch.randn_like(mu) if noise is None else noise.to(mu.dtype)
    return mu + eps * torch.exp(0.5 * logvar)


class VAE(nn.Module):
    """Subclasses define `latent_dims` and `decode`. The defaults below fit a VAE whose `encoder`
    outputs (mu, logvar) stacked on dim 1 and whose `decoder` is a Sequential (the baselines);
    the U-Net overrides them."""

    latent_dims: tuple[int, ...]
    encoder: nn.Module
    decoder: nn.Module
    linear_output: bool = False  # see the module docstring

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def last_layer(self) -> torch.Tensor:
        """Weight of the decoder's final layer (for the adaptive GAN weight)."""
        return self.decoder[-1].weight

    def forward(self, x: torch.Tensor, sample: bool = True, noise: torch.Tensor | None = None,
                prior_z: torch.Tensor | None = None) -> VAEOutput:
        """`prior_z`: prior draws to decode in the same decoder pass (the GAN on samples); going
        through forward keeps DDP's gradient hooks in charge of them."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, noise) if sample else mu
        if prior_z is None:
            return VAEOutput(self.decode(z), mu, logvar, z, linear=self.linear_output)
        logits, prior_logits = self.decode(torch.cat([z, prior_z.to(z.dtype)])).split([len(z), len(prior_z)])
        return VAEOutput(logits, mu, logvar, z, prior_logits, linear=self.linear_output)

    def decode_images(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], fp32, decoded from z: the one place decoder outputs become pixels."""
        return to_images(self.decode(z).float(), self.linear_output).clamp(0.0, 1.0)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws from N(0, I), made on the CPU (so a CPU generator reproduces them anywhere)."""
        device = next(self.parameters()).device
        return torch.randn((n, *self.latent_dims), generator=generator).to(device)


def lerp_latents(za: torch.Tensor, zb: torch.Tensor, steps: int) -> torch.Tensor:
    """`steps` points on the straight line from za to zb, both ends included: [steps, *za.shape]."""
    t = torch.linspace(0, 1, steps, device=za.device).view(-1, *[1] * za.dim())
    return za + t * (zb - za)


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """`model` in eval mode inside the block, back in its previous mode after it."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
