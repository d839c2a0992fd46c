"""Checkpoints written atomically (temp file, fsync, rename): a crash leaves the old one intact."""
from __future__ import annotations

import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Optional

import torch

from .config import FIELDS, RESUME_MAY_CHANGE, Config, ConfigError, build_config

FROM_DATA = ("image_channels", "image_size", "channels")  # None in a request: filled in from the data
# What checkpoints written before a key existed were trained with (every run was 1x28x28 then).
LEGACY = {"disc_arch": "wide", "ema_decay": 0.0, "image_channels": 1, "image_size": 28, "swd_weight": 0.0,
          "disc_feature_weight": 0.0, "gan_samples": False, "val_images": 0, "best_metric": "val/mse",
          "blocks": "vaegan", "decoder_output": "sigmoid"}
RENAMED = {"val_fraction": "test_fraction"}  # old key -> its name now


def saved_config(values: dict) -> dict:
    """A checkpoint's config as today's keys: LEGACY for keys it predates, renamed keys under their
    names now, a best.pt metric picked on test/ (before the validation split) as its val/ one, the
    split seed as the seed that chose its held-out images."""
    values = {RENAMED.get(k, k): v for k, v in {**LEGACY, **values}.items()}
    values.setdefault("split_seed", values.get("seed", 0))  # held-out images were chosen with --seed then
    if str(values.get("best_metric", "")).startswith("test/"):
        values["best_metric"] = "val/" + values["best_metric"].split("/", 1)[1]
    return {k: v for k, v in values.items() if k in FIELDS}


def config_from_checkpoint(values: dict, path: Path, **overrides) -> Config:
    """The Config a checkpoint (or an export's config.json) was trained with, as today's keys, with
    `overrides` (device, data location, ...); one line naming `path` when it holds no usable config."""
    try:
        return build_config({**saved_config(values), "device": "auto", "resume": "no", **overrides})
    except (TypeError, KeyError, AttributeError) as e:
        raise ConfigError(f"{path} holds no usable vaegan config ({e})") from None


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """`write(f)` into a temporary file of this call's own (processes writing the same file at once,
    e.g. a shared cache, never share one), flushed and fsynced, then renamed over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    f = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp", delete=False)
    try:
        with f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(f.name, path)
    except BaseException:
        Path(f.name).unlink(missing_ok=True)
        raise


def save_checkpoint(state: dict, path: Path) -> None:
    atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path: Path) -> dict:
    if path.is_dir():
        raise ConfigError(f"{path} is a folder: this program needs a training checkpoint (RUN/checkpoints/last.pt "
                          f"or best.pt); an exported folder is read by vaegan-sample and vaegan.load")
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


def _differences(saved: dict, current: dict, keys: Iterable[str]) -> list[str]:
    """'key: saved in checkpoint, current now' for each key outside RESUME_MAY_CHANGE that differs."""
    return [f"{k}: {saved[k]!r} in checkpoint, {current[k]!r} now" for k in keys
            if k not in RESUME_MAY_CHANGE and k in saved and saved[k] != current[k]
            and not (k in FROM_DATA and current[k] is None)]


def check_compatible(saved: dict, current: dict, path: Path) -> None:
    """A run may only continue a checkpoint trained with the same model and objective."""
    diffs = _differences(saved_config(saved), current, FIELDS)
    if diffs:
        raise ConfigError(f"checkpoint {path} was trained with other settings ({'; '.join(diffs)}); resume "
                          f"with the settings it was trained with, or pass --out DIR to start a new run")


def resumed_config(saved: dict, requested: Config, given: Optional[Iterable[str]], path: Path) -> Config:
    """The config a resumed run trains with: the checkpoint's (with LEGACY for keys it predates),
    except the keys of RESUME_MAY_CHANGE that the user set, which come from `requested`. A key in
    `given` (what the user set; None: every key) outside those that differs from the checkpoint is
    refused."""
    saved = saved_config(saved)
    asked = requested.to_dict()
    diffs = _differences(saved, asked, FIELDS if given is None else given)
    if diffs:
        raise ConfigError(f"--resume continues {path} with the settings it was trained with; these differ "
                          f"({'; '.join(diffs)}): drop them, or pass --out DIR to start a new run")
    anew = {k: asked[k] for k in RESUME_MAY_CHANGE if given is None or k in given or k not in saved}
    # The image spec is the checkpoint's (the data is fitted to it, as when the run started), unless set.
    spec = {k: asked[k] if asked[k] is not None else saved.get(k) for k in ("image_channels", "image_size")}
    return build_config({**saved, **anew, **spec, "out": asked["out"], "resume": asked["resume"]})


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
