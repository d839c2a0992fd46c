"""U-Net-style VAE on diffusers' autoencoder blocks: the `Encoder` and `Decoder` of AutoencoderKL
(conv in, one level of residual blocks per entry of `channels`, each but the last halving the
image, a mid block of residual / self-attention / residual, norm-SiLU-conv out; the decoder its
mirror with one residual block more per level, as AutoencoderKL's).

There are no encoder-to-decoder skip connections: the decoder sees only z, so the latent is a
true bottleneck. A spatial latent lives at the bottom's size and the model is exactly an
AutoencoderKL (`diffusers_config()`; vaegan.diffusers_export); a vector latent goes through dense
layers from / to the same bottom feature maps. Images come in on [0, 1] and enter the encoder as
2x - 1, diffusers' convention.
"""
from __future__ import annotations

from typing import Sequence

import torch
from diffusers.models.autoencoders.vae import Decoder, Encoder
from einops import rearrange
from torch import nn

from .vae import VAE

VECTOR_BODY_CHANNELS = 8  # a vector latent's dense heads read / write this many bottom feature maps (x2 out)


def block_types(sizes: Sequence[int], attn_resolutions: Sequence[int]) -> tuple[list[str], list[str]]:
    """diffusers' down and up block names per level (up ones listed from the bottom): a level whose
    feature-map size is in `attn_resolutions` gets self-attention after each residual block; the
    bottom's attention is the mid block's."""
    attention = [size in attn_resolutions and i < len(sizes) - 1 for i, size in enumerate(sizes)]
    down = ["AttnDownEncoderBlock2D" if a else "DownEncoderBlock2D" for a in attention]
    up = ["AttnUpDecoderBlock2D" if a else "UpDecoderBlock2D" for a in reversed(attention)]
    return down, up


class UNetVAE(VAE):
    """Parameters:
        latent: dims of a vector latent, or channels of a spatial one.
        spatial: a `latent` x bottom x bottom latent rather than a vector.
        channels: channels per level; len(channels) - 1 halvings from `image_size` to the bottom.
        num_res_blocks: residual blocks per encoder level (the decoder has one more per level).
        image_channels: 1 (grey) or 3 (RGB).
        image_size: side of the square images, divisible by 2 ** (len(channels) - 1).
        attn_resolutions: feature-map sizes (px) whose levels also get self-attention.
        norm_groups: GroupNorm groups (a divisor of every entry of `channels`).
        quant_conv: 1x1 convs on the moments and on z, as Stable Diffusion's VAE has (spatial only).
        linear_output: the decoder outputs images in [-1, 1] (AutoencoderKL's convention, needed to
            export as one) rather than logits.
    """

    def __init__(self, latent: int, spatial: bool = False, channels: Sequence[int] = (32, 64, 128),
                 num_res_blocks: int = 1, image_channels: int = 1, image_size: int = 28,
                 attn_resolutions: Sequence[int] = (), norm_groups: int = 8, quant_conv: bool = False,
                 linear_output: bool = False):
        super().__init__()
        channels = list(channels)
        self.bottom = image_size // 2 ** (len(channels) - 1)
        if self.bottom * 2 ** (len(channels) - 1) != image_size:
            raise ValueError(f"{image_size} px does not halve {len(channels) - 1} times")
        if quant_conv and not spatial:
            raise ValueError("quant_conv needs a spatial latent")
        self.spatial, self.linear_output = spatial, linear_output
        down, up = block_types([image_size // 2 ** i for i in range(len(channels))], attn_resolutions)
        self._arch = dict(in_channels=image_channels, out_channels=image_channels, down_block_types=down,
                          up_block_types=up, block_out_channels=channels, layers_per_block=num_res_blocks,
                          act_fn="silu", latent_channels=latent, norm_num_groups=norm_groups, sample_size=image_size,
                          use_quant_conv=quant_conv, use_post_quant_conv=quant_conv, mid_block_add_attention=True)
        body = latent if spatial else VECTOR_BODY_CHANNELS
        self.encoder = Encoder(image_channels, body, tuple(down), tuple(channels), num_res_blocks, norm_groups,
                               double_z=True)
        self.decoder = Decoder(latent if spatial else channels[-1], image_channels, tuple(up), tuple(channels),
                               num_res_blocks, norm_groups)
        if quant_conv:
            self.quant_conv = nn.Conv2d(2 * latent, 2 * latent, 1)
            self.post_quant_conv = nn.Conv2d(latent, latent, 1)
        side = self.bottom
        self.latent_dims = (latent, side, side) if spatial else (latent,)
        if not spatial:
            self.to_moments = nn.Linear(2 * body * side * side, 2 * latent)
            self.from_z = nn.Linear(latent, channels[-1] * side * side)

    def diffusers_config(self) -> dict:
        """The AutoencoderKL config this model's weights load into unchanged (spatial latents)."""
        if not self.spatial:
            raise ValueError("a vector latent has no AutoencoderKL form")
        return dict(self._arch)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(2.0 * x - 1.0)
        if self.spatial and self._arch["use_quant_conv"]:
            h = self.quant_conv(h)
        if not self.spatial:
            h = self.to_moments(rearrange(h, "b c h w -> b (c h w)"))
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)  # AutoencoderKL's DiagonalGaussianDistribution clamps the same

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if not self.spatial:
            z = rearrange(self.from_z(z), "b (c h w) -> b c h w", h=self.bottom, w=self.bottom)
        elif self._arch["use_post_quant_conv"]:
            z = self.post_quant_conv(z)
        return self.decoder(z)

    @property
    def last_layer(self) -> torch.Tensor:
        return self.decoder.conv_out.weight
