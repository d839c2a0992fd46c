"""Checkpoints written atomically (temp file, fsync, rename): a crash leaves the old one intact."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

from .config import ConfigError

# Keys that fix the shapes of the networks: a checkpoint is only compatible when these match.
ARCH_KEYS = ("arch", "latent", "latent_shape", "channels", "num_res_blocks", "attn_heads", "hidden",
             "use_gan", "disc_channels", "disc_arch", "ema_decay")
# What checkpoints written before a key existed were trained with.
LEGACY = {"disc_arch": "wide", "ema_decay": 0.0}


def save_checkpoint(state: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"no checkpoint at {path}")
    try:  # weights_only: opening a checkpoint never runs code from it
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ConfigError(f"checkpoint {path} holds more than tensors and plain values "
                          f"({' '.join(str(e).split())[:120]}...); refused: loading it would run arbitrary "
                          f"code") from None
    except Exception as e:
        raise ConfigError(f"checkpoint {path} cannot be read ({type(e).__name__}); it is corrupt or "
                          f"not a vaegan checkpoint") from None


def check_compatible(saved: dict, current: dict, path: Path) -> None:
    saved = {**LEGACY, **saved}
    diffs = [f"{k}: {saved.get(k)!r} in checkpoint, {current.get(k)!r} now" for k in ARCH_KEYS
             if saved.get(k) != current.get(k)]
    if diffs:
        raise ConfigError(f"checkpoint {path} is from another model ({'; '.join(diffs)}); use the same "
                          f"settings or another --out")


def load_weights(module: torch.nn.Module, state: dict, path: Path, what: str = "model") -> None:
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as e:
        first = str(e).splitlines()[0][:160]
        raise ConfigError(f"checkpoint {path}: its {what} weights do not fit this {what} ({first})") from None


def inference_weights(saved: dict) -> dict:
    """The weights to use a trained model with: the EMA copy when the run kept one."""
    ema = saved.get("ema")
    if not ema:
        return saved["model"]
    return {k.removeprefix("module."): v for k, v in ema.items() if k.startswith("module.")}
