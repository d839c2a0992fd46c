"""The one place that decides device, precision and seeding."""
from __future__ import annotations

import contextlib
import os
import random
from typing import Optional

import torch

from .config import ConfigError


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """auto -> cuda when available; on CUDA each torchrun rank takes its LOCAL_RANK'th GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda asked for, but torch sees no CUDA device (use --device cpu)")
    return torch.device("cuda", local_rank) if name == "cuda" else torch.device("cpu")


def cpu_has_fast_bf16() -> bool:
    """AMX or AVX512-BF16: where oneDNN runs bf16 convolutions faster than fp32."""
    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except AttributeError:  # private API: absent means unknown, so stay in fp32
        return False


def resolve_precision(precision: str, device: torch.device) -> Optional[torch.dtype]:
    """The autocast dtype for the networks, or None for plain fp32."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_fast_bf16() else None


def memory_format(device: torch.device, amp_dtype: Optional[torch.dtype],
                  has_group_norm: bool) -> torch.memory_format:
    """channels_last where it pays. On CUDA always. On CPU only for bf16 networks without
    GroupNorm (LPIPS' VGG: 1.4x measured), since CPU GroupNorm in bf16 is ~9x slower on
    channels_last tensors (measured), which outweighs the faster convolutions."""
    if device.type == "cuda" or (amp_dtype is not None and not has_group_norm):
        return torch.channels_last
    return torch.contiguous_format


def autocast(device: torch.device, dtype: Optional[torch.dtype] = None):
    """Autocast for the networks; the loss maths casts back to fp32 itself."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def fp32_under_fp16(device: torch.device):
    """fp32 for the passes the generator loss differentiates itself (through D, the sample D and
    LPIPS, with autograd.grad, outside the GradScaler) when the networks run in fp16: fp16 flushed
    10 % of D's gradient entries to zero (12 % error), and kept 2-5 % error even with the loss scaled
    (measured on CPU, batch 64). bf16 has fp32's range and stays as it is."""
    if torch.is_autocast_enabled(device.type) and torch.get_autocast_dtype(device.type) == torch.float16:
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True)


def rng_state(device: torch.device) -> dict:
    """This process's RNG state: torch's CPU generator, Python's, and the CUDA generator of the
    device it trains on (under torchrun each rank keeps its own; see the trainer's checkpoints)."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    cuda = state.get("cuda")
    if cuda is None or device.type != "cuda":
        return
    if isinstance(cuda, (list, tuple)):  # older checkpoints kept every visible device's state
        cuda = cuda[device.index or 0]
    torch.cuda.set_rng_state(cuda, device)


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
