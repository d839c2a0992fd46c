"""PatchGAN discriminators: a grid of real/fake logits, one per image patch.

The number of stride-2 convs follows the image size (2 up to 64 px, 3 up to 128, 4 above), so
the logit map stays a grid of local patches (7x7 at 28 px, 16x16 at 64 and 256 px), never 1x1.
`local`: the stride-2 4x4 convs, a 3x3 conv and a 1x1 head, no normalisation (GroupNorm would
make every logit depend on every pixel); N(0, 0.02) init as in pix2pix / taming. At 28 px each
logit sees an 18x18 px patch. `wide`: the earlier net (GroupNorm after the second conv, two more
4x4 stride-1 convs; 34 px at 28 px, i.e. the whole image), PyTorch's default init. No BatchNorm
in either (DDP buffers). `receptive_field` computes the patch size from the layers.
`LatentDiscriminator` tells posterior means from N(0, I) draws (the adversarial autoencoder's
latent critic).
"""
from __future__ import annotations

import torch
from torch import nn


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Conv2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)


def downsamplings(image_size: int) -> int:
    return 2 if image_size <= 64 else 3 if image_size <= 128 else 4


def receptive_field(net: nn.Module) -> int:
    """Side (px) of the input patch one output logit depends on, from the convs' kernels and strides."""
    field, jump = 1, 1
    for layer in net.modules():
        if isinstance(layer, nn.Conv2d):
            field += (layer.kernel_size[0] - 1) * jump
            jump *= layer.stride[0]
    return field


class PatchDiscriminator(nn.Module):
    def __init__(self, channels: int = 64, arch: str = "local", image_channels: int = 1, image_size: int = 28):
        super().__init__()
        downs = downsamplings(image_size)
        widths = [channels * min(2 ** i, 8) for i in range(downs + 1)]
        layers: list[nn.Module] = []
        c_prev = image_channels
        if arch == "local":
            for c in widths[:-1]:
                layers += [nn.Conv2d(c_prev, c, 4, 2, 1), nn.LeakyReLU(0.2)]
                c_prev = c
            layers += [nn.Conv2d(c_prev, widths[-1], 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(widths[-1], 1, 1)]
            self.net = nn.Sequential(*layers)
            self.apply(_init_weights)
        elif arch == "wide":
            for i, c in enumerate(widths[:-1]):
                layers += [nn.Conv2d(c_prev, c, 4, 2, 1)] + ([nn.GroupNorm(8, c)] if i else []) + [nn.LeakyReLU(0.2)]
                c_prev = c
            layers += [nn.Conv2d(c_prev, widths[-1], 4, 1, 1), nn.GroupNorm(8, widths[-1]), nn.LeakyReLU(0.2),
                       nn.Conv2d(widths[-1], 1, 4, 1, 1)]
            self.net = nn.Sequential(*layers)
        else:
            raise ValueError(f"unknown discriminator arch {arch!r}")

    def forward(self, images: torch.Tensor, return_features: bool = False):
        """images in [0, 1] -> logits [B, 1, h, w] (7x7 local / 5x5 wide at 28 px); with
        return_features, (logits, the last hidden layer's activations [B, C, h, w])."""
        features = self.net[:-1](images * 2.0 - 1.0)
        logits = self.net[-1](features)
        return (logits, features) if return_features else logits


class LatentDiscriminator(nn.Module):
    """An MLP critic on vector codes [B, D] -> logits [B, 1] (Makhzani et al.'s adversarial autoencoder)."""

    def __init__(self, dims: int, width: int = 512):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dims, width), nn.LeakyReLU(0.2), nn.Linear(width, width),
                                 nn.LeakyReLU(0.2), nn.Linear(width, 1))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.net(codes)
