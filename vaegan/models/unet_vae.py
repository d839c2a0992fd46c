"""U-Net-style VAE for 28x28 images: levels at 28, 14 and 7 px, attention in the mid block.

There are no encoder-to-decoder skip connections: the decoder sees only z, so the latent is a
true bottleneck (a U-Net's skips would let pixels bypass it).
"""
from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from .blocks import Downsample, MidBlock, Upsample, norm, res_stack
from .vae import VAE

SIDE = 7  # the 7x7 bottom of the U for 28x28 input


class Encoder(nn.Module):
    def __init__(self, channels: list[int], num_res: int, heads: int, out_channels: int):
        super().__init__()
        c0, c1, c2 = channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c0, 3, padding=1),
            res_stack(c0, c0, num_res), Downsample(c0),  # 28 -> 14
            res_stack(c0, c1, num_res), Downsample(c1),  # 14 -> 7
            res_stack(c1, c2, num_res),
            MidBlock(c2, heads),
            norm(c2), nn.SiLU(),
            nn.Conv2d(c2, out_channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, channels: list[int], num_res: int, heads: int, in_channels: int):
        super().__init__()
        c0, c1, c2 = channels
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, c2, 3, padding=1),
            MidBlock(c2, heads),
            res_stack(c2, c2, num_res), Upsample(c2),  # 7 -> 14
            res_stack(c2, c1, num_res), Upsample(c1),  # 14 -> 28
            res_stack(c1, c0, num_res),
            norm(c0), nn.SiLU(),
        )
        self.conv_out = nn.Conv2d(c0, 1, 3, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.net(h))


class UNetVAE(VAE):
    def __init__(self, latent: int, spatial: bool = False, channels: list[int] = (32, 64, 128),
                 num_res_blocks: int = 1, attn_heads: int = 4):
        super().__init__()
        self.spatial = spatial
        self.latent_dims = (latent, SIDE, SIDE) if spatial else (latent,)
        c2 = channels[-1]
        # A vector latent goes through dense layers from / to a small 7x7 feature map.
        hidden = 2 * latent if spatial else 16
        self.encoder = Encoder(list(channels), num_res_blocks, attn_heads, hidden)
        self.decoder = Decoder(list(channels), num_res_blocks, attn_heads, latent if spatial else c2)
        if not spatial:
            self.to_moments = nn.Linear(hidden * SIDE * SIDE, 2 * latent)
            self.from_z = nn.Linear(latent, c2 * SIDE * SIDE)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        if not self.spatial:
            h = self.to_moments(rearrange(h, "b c h w -> b (c h w)"))
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if not self.spatial:
            z = rearrange(self.from_z(z), "b (c h w) -> b c h w", h=SIDE, w=SIDE)
        return self.decoder(z)

    @property
    def last_layer(self) -> torch.Tensor:
        return self.decoder.conv_out.weight
