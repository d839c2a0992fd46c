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
    eq_logits: torch.Tensor | None = None  # the decode of a transformed z (forward(equivariance=True)) ...
    eq_target: torch.Tensor | None = None  # ... and the same transform of the images
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


def equivariance_pair(z: torch.Tensor, x: torch.Tensor,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(T(z), T(x)) for one transform T drawn for the whole batch (EQ-VAE, Kouzelis et al. 2025): a
    rotation by 90, 180 or 270 degrees, or a downscale of the latent's side from h to one of
    ceil(h / 2) .. h - 1 with the images scaled to match. Drawn on the CPU generator, so the ranks of
    a data-parallel run, seeded alike, draw the same T."""
    kind = int(torch.randint(0, 4, (), generator=generator))
    if kind < 3:
        return torch.rot90(z, kind + 1, (-2, -1)), torch.rot90(x, kind + 1, (-2, -1))
    side, factor = z.shape[-1], x.shape[-1] // z.shape[-1]
    size = int(torch.randint((side + 1) // 2, side, (), generator=generator))
    scale = dict(mode="bilinear", antialias=True, align_corners=False)  # antialiasing has no bf16 kernel
    return (torch.nn.functional.interpolate(z.float(), size=(size, size), **scale).to(z.dtype),
            torch.nn.functional.interpolate(x.float(), size=(size * factor, size * factor), **scale).to(x.dtype))


def noised_for_decoder(z: torch.Tensor, scaled_noise: torch.Tensor) -> torch.Tensor:
    """z plus `scaled_noise` (unit draws times each image's noise level) in units of each image's own
    latent std, so the level means the same whatever scale the latent settles at; per image, so
    data-parallel ranks agree with one process. The std is detached: the noise must not teach the
    encoder to grow or shrink its latent."""
    std = z.detach().std(dim=tuple(range(1, z.dim())), keepdim=True)
    return z + scaled_noise.to(z.dtype) * std


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
                prior_z: torch.Tensor | None = None, equivariance: bool = False,
                decoder_noise: torch.Tensor | None = None) -> VAEOutput:
        """`prior_z`: prior draws to decode in the same decoder pass (the GAN on samples);
        `equivariance`: also decode a transformed z (`equivariance_pair`, EQ-VAE); `decoder_noise`:
        the reconstruction decodes `noised_for_decoder(z, decoder_noise)` (out.z stays z). Going
        through forward keeps DDP's gradient hooks in charge of all of them."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, noise) if sample else mu
        z_seen = z if decoder_noise is None else noised_for_decoder(z, decoder_noise)
        if prior_z is None:
            out = VAEOutput(self.decode(z_seen), mu, logvar, z, linear=self.linear_output)
        else:
            logits, prior_logits = self.decode(torch.cat([z_seen, prior_z.to(z.dtype)])).split(
                [len(z), len(prior_z)])
            out = VAEOutput(logits, mu, logvar, z, prior_logits, linear=self.linear_output)
        if equivariance:
            z_t, out.eq_target = equivariance_pair(z, x)
            out.eq_logits = self.decode(z_t)
        return out

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
