"""PatchGAN discriminator sized for 28x28: a 5x5 map of real/fake logits.

pix2pix's 3 stride-2 layers collapse 28 px to a 1x1 (global) logit; two stride-2 layers and two
stride-1 layers keep 5x5 patches with a 22 px receptive field each. No BatchNorm (DDP buffers);
GroupNorm instead.
"""
from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    def __init__(self, channels: int = 64):
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c, 4, 2, 1), nn.LeakyReLU(0.2),                                     # 28 -> 14
            nn.Conv2d(c, 2 * c, 4, 2, 1), nn.GroupNorm(8, 2 * c), nn.LeakyReLU(0.2),        # 14 -> 7
            nn.Conv2d(2 * c, 4 * c, 4, 1, 1), nn.GroupNorm(8, 4 * c), nn.LeakyReLU(0.2),    # 7 -> 6
            nn.Conv2d(4 * c, 1, 4, 1, 1),                                                    # 6 -> 5
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images in [0, 1] -> logits [B, 1, 5, 5]."""
        return self.net(images * 2.0 - 1.0)
