"""LPIPS (VGG) for gray or RGB images of any size >= 28 px, frozen, always in eval mode, and differentiable.

The `lpips` package supplies the scaling layer, the VGG16 slices and its trained linear heads.
The VGG backbone weights come from exactly one of three places, never silently:
  'pretrained' -> torchvision's file in the torch hub cache (downloaded on first use),
  a path       -> a local VGG16 state dict (full model or `features` only),
  'random'     -> random weights, for tests; the caller logs that LPIPS numbers are meaningless.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from ..config import ConfigError

VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"


class LPIPSBackboneError(ConfigError):
    pass


def _pretrained_state() -> dict:
    target = Path(torch.hub.get_dir()) / "checkpoints" / Path(VGG16_URL).name
    try:
        return torch.hub.load_state_dict_from_url(VGG16_URL, progress=True, map_location="cpu")
    except Exception as e:  # URLError, HTTPError, socket errors, a torn file...
        raise LPIPSBackboneError(
            f"LPIPS needs torchvision's pretrained VGG16 and could not get it ({type(e).__name__}); "
            f"download {VGG16_URL} to {target}, or pass --lpips-backbone PATH to a local copy") from None


def _file_state(path: str) -> dict:
    if not Path(path).is_file():
        raise LPIPSBackboneError(f"--lpips-backbone {path}: no such file (use 'pretrained', 'random' "
                                 f"or a path to a VGG16 state dict)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise LPIPSBackboneError(f"--lpips-backbone {path} could not be loaded ({type(e).__name__})") from None
    if not isinstance(state, dict):
        raise LPIPSBackboneError(f"--lpips-backbone {path} is not a state dict")
    return state


def backbone_state(backbone: str) -> Optional[dict]:
    if backbone == "random":
        return None
    return _pretrained_state() if backbone == "pretrained" else _file_state(backbone)


def _load_vgg_features(vgg: nn.Module, state: dict, source: str) -> None:
    """Copy `features.N.*` (or bare `N.*`) tensors into lpips' slice modules, which keep torchvision's
    layer indices as their child names."""
    prefix = "features." if any(k.startswith("features.") for k in state) else ""
    for slice_ in (vgg.slice1, vgg.slice2, vgg.slice3, vgg.slice4, vgg.slice5):
        for index, layer in slice_.named_children():
            if not isinstance(layer, nn.Conv2d):
                continue
            for name in ("weight", "bias"):
                key = f"{prefix}{index}.{name}"
                if key not in state or state[key].shape != getattr(layer, name).shape:
                    raise LPIPSBackboneError(f"{source} is not a VGG16 state dict (bad or missing {key})")
                getattr(layer, name).data.copy_(state[key])


def _unit_normalize(feats: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    # eps inside the sqrt: lpips' own version NaNs the gradient when a feature vector is all zero,
    # which happens on the 1x1 deepest VGG map at 28 px.
    return feats * torch.rsqrt(feats.pow(2).sum(dim=1, keepdim=True) + eps)


class LPIPS(nn.Module):
    """`forward(a, b)` with images in [0, 1], shape [B, 1 or 3, H, W] -> distance per image [B].
    Gradients flow into `a` only: `b` is the target."""

    def __init__(self, backbone: str = "pretrained"):
        super().__init__()
        import lpips

        with warnings.catch_warnings():  # lpips calls torchvision with the deprecated `pretrained=`
            warnings.simplefilter("ignore")
            model = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False)
        state = backbone_state(backbone)
        if state is not None:
            _load_vgg_features(model.net, state, backbone)
        self.random_backbone = state is None
        self.scaling_layer, self.net, self.lins = model.scaling_layer, model.net, model.lins
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "LPIPS":
        # lpips' heads contain Dropout; a parent's .train() must never switch it on.
        return super().train(False)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The VGG convolutions follow the caller's autocast (bf16 is fine for them); the
        normalisation, differences and heads run in fp32."""
        a, b = (self.scaling_layer(x.float().expand(-1, 3, -1, -1) * 2 - 1) for x in (a, b))
        feats_a = self.net(a)
        with torch.no_grad():  # the target needs no graph
            feats_b = self.net(b)
        with torch.autocast(a.device.type, enabled=False):
            total = 0.0
            for lin, fa, fb in zip(self.lins, feats_a, feats_b):
                diff = (_unit_normalize(fa.float()) - _unit_normalize(fb.float())).pow(2)
                total = total + lin(diff).mean(dim=(1, 2, 3))
        return total
