"""The U-Net-style VAE of this package's own blocks (blocks.py): what `--blocks vaegan` builds and
what checkpoints trained with it load into. `unet_vae.py` builds the same shape from diffusers'.

One level per entry of `channels`, each halving the image (28 -> 14 -> 7 px for the default
three), residual blocks at every level, self-attention in the mid block at the bottom (and at
any `attn_resolutions`).

There are no encoder-to-decoder skip connections: the decoder sees only z, so the latent is a
true bottleneck (a U-Net's skips would let pixels bypass it). A spatial latent lives at the
bottom's size; a vector latent goes through dense layers from / to that bottom feature map.
"""
from __future__ import annotations

from typing import Sequence

import torch
from einops import rearrange
from torch import nn

from .blocks import Downsample, MidBlock, SelfAttention, Upsample, norm, res_stack
from .vae import VAE


def _level(c_in: int, c_out: int, num_res: int, heads: int, attention: bool) -> list[nn.Module]:
    # An attention level is (res_stack, attention); a plain one is the res_stack alone, so the
    # module names of checkpoints written before attn_resolutions existed stay valid.
    return [res_stack(c_in, c_out, num_res)] + ([SelfAttention(c_out, heads)] if attention else [])


class Encoder(nn.Module):
    def __init__(self, image_channels: int, channels: Sequence[int], num_res: int, heads: int,
                 out_channels: int, attn_sizes: Sequence[int]):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(image_channels, channels[0], 3, padding=1)]
        c_prev = channels[0]
        for i, c in enumerate(channels):
            layers += _level(c_prev, c, num_res, heads, attn_sizes[i])
            if i < len(channels) - 1:
                layers.append(Downsample(c))
            c_prev = c
        layers += [MidBlock(c_prev, heads), norm(c_prev), nn.SiLU(), nn.Conv2d(c_prev, out_channels, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, image_channels: int, channels: Sequence[int], num_res: int, heads: int,
                 in_channels: int, attn_sizes: Sequence[int]):
        super().__init__()
        c_last = channels[-1]
        layers: list[nn.Module] = [nn.Conv2d(in_channels, c_last, 3, padding=1), MidBlock(c_last, heads)]
        c_prev = c_last
        for i in reversed(range(len(channels))):
            layers += _level(c_prev, channels[i], num_res, heads, attn_sizes[i])
            if i > 0:
                layers.append(Upsample(channels[i]))
            c_prev = channels[i]
        layers += [norm(c_prev), nn.SiLU()]
        self.net = nn.Sequential(*layers)
        self.conv_out = nn.Conv2d(c_prev, image_channels, 3, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.net(h))


class HandWrittenUNetVAE(VAE):
    def __init__(self, latent: int, spatial: bool = False, channels: Sequence[int] = (32, 64, 128),
                 num_res_blocks: int = 1, attn_heads: int = 4, image_channels: int = 1, image_size: int = 28,
                 attn_resolutions: Sequence[int] = ()):
        super().__init__()
        channels = list(channels)
        self.spatial = spatial
        self.bottom = image_size // 2 ** (len(channels) - 1)
        if self.bottom * 2 ** (len(channels) - 1) != image_size:
            raise ValueError(f"{image_size} px does not halve {len(channels) - 1} times")
        sizes = [image_size // 2 ** i for i in range(len(channels))]
        # The bottom level's attention is the mid block's; others only where asked.
        attn_sizes = [s in attn_resolutions and i < len(channels) - 1 for i, s in enumerate(sizes)]
        side = self.bottom
        self.latent_dims = (latent, side, side) if spatial else (latent,)
        hidden = 2 * latent if spatial else 16
        self.encoder = Encoder(image_channels, channels, num_res_blocks, attn_heads, hidden, attn_sizes)
        self.decoder = Decoder(image_channels, channels, num_res_blocks, attn_heads,
                               latent if spatial else channels[-1], attn_sizes)
        if not spatial:
            self.to_moments = nn.Linear(hidden * side * side, 2 * latent)
            self.from_z = nn.Linear(latent, channels[-1] * side * side)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        if not self.spatial:
            h = self.to_moments(rearrange(h, "b c h w -> b (c h w)"))
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if not self.spatial:
            z = rearrange(self.from_z(z), "b (c h w) -> b c h w", h=self.bottom, w=self.bottom)
        return self.decoder(z)

    @property
    def last_layer(self) -> torch.Tensor:
        return self.decoder.conv_out.weight
