"""Optimisation: the optimizers, the learning-rate schedule both networks share, and the EMA of
the VAE's weights. All of it is state the checkpoint carries, so resume stays exact."""
from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.swa_utils import AveragedModel

from .config import Config


def make_optimizer(cfg: Config, params, lr: float) -> torch.optim.Optimizer:
    """Adam / AdamW with the fused kernel (one launch for all parameters) where torch has one."""
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    params = list(params)
    kwargs = dict(lr=lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)
    try:
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, ValueError):  # no fused kernel for this device / dtype
        return cls(params, foreach=True, **kwargs)


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str) -> float:
    """Multiplier of the base learning rate at `step`: linear warmup, then constant or a cosine
    decay to 0 at `total_steps`."""
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: Config, total_steps: int) -> LambdaLR:
    return LambdaLR(optimizer, lambda step: lr_factor(step, total_steps, cfg.warmup_steps, cfg.lr_schedule))


def make_ema(model: torch.nn.Module, decay: float) -> AveragedModel:
    """torch's AveragedModel with an EMA whose decay warms up as min(decay, (1 + n) / (10 + n)) over
    the n updates so far: early weights (random init) fade instead of dominating short runs."""

    @torch.no_grad()
    def update(ema_params, params, num_averaged) -> None:
        # The weight stays a tensor on the model's device: no host sync in the training step.
        n = num_averaged.to(ema_params[0].dtype)
        torch._foreach_lerp_(ema_params, params, 1.0 - ((1 + n) / (10 + n)).clamp(max=decay))

    return AveragedModel(model, multi_avg_fn=update)
