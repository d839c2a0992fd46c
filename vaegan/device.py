"""The one place that decides device, precision and seeding."""
from __future__ import annotations

import contextlib
import random

import torch

from .config import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda asked for, but torch sees no CUDA device (use --device cpu)")
    return torch.device(name)


def autocast(device: torch.device):
    """bf16 autocast for the networks on CUDA; the loss maths casts back to fp32 itself."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
