"""Checkpoints written atomically (temp file, fsync, rename): a crash leaves the old one intact."""
from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import BinaryIO, Callable

import torch

from .config import ConfigError

# Keys that fix the shapes of the networks: a checkpoint is only compatible when these match.
ARCH_KEYS = ("image_channels", "image_size", "arch", "latent", "latent_shape", "channels", "attn_resolutions",
             "num_res_blocks", "attn_heads", "hidden", "use_gan", "disc_channels", "disc_arch", "ema_decay",
             "gan_samples")  # gan_samples: whether the checkpoint holds a sample discriminator
# What checkpoints written before a key existed were trained with (every run was 1x28x28 then).
LEGACY = {"disc_arch": "wide", "ema_decay": 0.0, "image_channels": 1, "image_size": 28, "swd_weight": 0.0,
          "disc_feature_weight": 0.0, "gan_samples": False}


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """`write(f)` into a temporary file, flushed and fsynced, then renamed over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(state: dict, path: Path) -> None:
    atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"no checkpoint at {path}")
    try:  # weights_only: opening a checkpoint never runs code from it
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global[^.]*", str(e))
        if found is None:  # not a pickle at all: reported as corrupt below
            raise ConfigError(f"checkpoint {path} cannot be read (UnpicklingError); it is corrupt or not a "
                              f"vaegan checkpoint") from None
        raise ConfigError(f"checkpoint {path} needs arbitrary pickle to load ({found.group(0)}); refused: "
                          f"loading it could run code from the file") from None
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


def check_writable(folder: Path) -> None:
    """Fail before anything is written if `folder` cannot be created or written."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"cannot write the run folder {folder}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write the run folder {folder}: no write permission in {existing}")


def check_run_dir(run_dir: Path, ckpt_path: Path, resume: str) -> None:
    """--resume yes needs a checkpoint; a new run never overwrites one; the folder must be writable."""
    if resume == "yes" and not ckpt_path.is_file():
        raise ConfigError(f"--resume: no checkpoint at {ckpt_path}")
    if resume == "no" and ckpt_path.is_file():
        raise ConfigError(f"{run_dir} already holds a run; pass --resume (or --resume auto) to "
                          f"continue it or --out DIR to start a new one")
    check_writable(run_dir)
