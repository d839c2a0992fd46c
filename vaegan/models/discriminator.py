"""PatchGAN discriminators for 28x28 images: a map of real/fake logits, one per image patch.

`local` (default): two stride-2 4x4 convs, a 3x3 conv and a 1x1 head give a 7x7 logit map; each
logit sees an 18x18 px patch (4 -> 10 -> 18 -> 18 px) and nothing else, because there is no
normalisation that mixes positions (GroupNorm would make every logit depend on every pixel).
`wide`: the earlier net (4x4 convs with strides 2, 2, 1, 1 and GroupNorm): a 5x5 map whose logits
each see 34 px, i.e. the whole image (PyTorch's default init). No BatchNorm in either (DDP
buffers). The local net's conv weights start from N(0, 0.02) as in pix2pix / taming.
"""
from __future__ import annotations

import torch
from torch import nn

RECEPTIVE_FIELD = {"local": 18, "wide": 34}


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Conv2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)


class PatchDiscriminator(nn.Module):
    def __init__(self, channels: int = 64, arch: str = "local"):
        super().__init__()
        c = channels
        if arch == "local":
            self.net = nn.Sequential(
                nn.Conv2d(1, c, 4, 2, 1), nn.LeakyReLU(0.2),              # 28 -> 14, 4 px
                nn.Conv2d(c, 2 * c, 4, 2, 1), nn.LeakyReLU(0.2),          # 14 -> 7, 10 px
                nn.Conv2d(2 * c, 4 * c, 3, 1, 1), nn.LeakyReLU(0.2),      # 7 -> 7, 18 px
                nn.Conv2d(4 * c, 1, 1),                                    # 7 -> 7, 18 px
            )
            self.apply(_init_weights)
        elif arch == "wide":
            self.net = nn.Sequential(
                nn.Conv2d(1, c, 4, 2, 1), nn.LeakyReLU(0.2),                                     # 28 -> 14
                nn.Conv2d(c, 2 * c, 4, 2, 1), nn.GroupNorm(8, 2 * c), nn.LeakyReLU(0.2),        # 14 -> 7
                nn.Conv2d(2 * c, 4 * c, 4, 1, 1), nn.GroupNorm(8, 4 * c), nn.LeakyReLU(0.2),    # 7 -> 6
                nn.Conv2d(4 * c, 1, 4, 1, 1),                                                    # 6 -> 5
            )
        else:
            raise ValueError(f"unknown discriminator arch {arch!r}")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images in [0, 1] -> logits [B, 1, 7, 7] (local) or [B, 1, 5, 5] (wide)."""
        return self.net(images * 2.0 - 1.0)
