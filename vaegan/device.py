"""The one place that decides device, precision and seeding."""
from __future__ import annotations

import contextlib
import os
import random

import torch

from .config import ConfigError


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """auto -> cuda when available; on CUDA each torchrun rank takes its LOCAL_RANK'th GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda asked for, but torch sees no CUDA device (use --device cpu)")
    return torch.device("cuda", local_rank) if name == "cuda" else torch.device("cpu")


def autocast(device: torch.device):
    """bf16 autocast for the networks on CUDA; the loss maths casts back to fp32 itself."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True)


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def environment_info(device: torch.device) -> dict:
    """Hardware and package versions, for the run's config."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    info = {"python": platform.python_version(), "platform": platform.platform(),
            "device": str(device), "cpu_count": os.cpu_count()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    for package in ("torch", "torchvision", "lpips", "torchmetrics", "wandb", "vaegan"):
        try:
            info[package] = version(package)
        except PackageNotFoundError:
            info[package] = None
    return info
