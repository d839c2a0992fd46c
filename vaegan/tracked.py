"""The metrics vaegan tracks across epochs, with their direction: one registry that the config
(`--best-metric` choices), the trainer (best.pt, the `best/` summary), the console line and the
plots all read. No torch import: the CLI reads it for `--help`."""
from __future__ import annotations

import math
from typing import Optional

# metric -> (higher is better, label); tracked on the validation and the test split
METRICS: dict[str, tuple[bool, str]] = {
    "mse": (False, "MSE"),
    "psnr": (True, "PSNR (dB)"),
    "ssim": (True, "SSIM"),
    "neg_elbo": (False, "-ELBO (nats)"),
    "lpips": (False, "LPIPS"),
    "rec": (False, "reconstruction loss"),
    "domain_fd_recon": (False, "domain FD of reconstructions"),
    "domain_fd_samples": (False, "domain FD of prior samples"),
}
TRACKED: dict[str, tuple[bool, str]] = {f"{split}/{m}": v for split in ("val", "test") for m, v in METRICS.items()}
BEST_METRICS = tuple(f"val/{m}" for m in METRICS)  # best.pt is picked on the validation split only
FIDELITY_METRICS = ("val/domain_fd_recon", "val/domain_fd_samples")  # in the domain classifier's features

# Drawn as metric curves and compared between runs; lpips and rec are loss terms, drawn with the losses.
CURVES = ("test/mse", "test/psnr", "test/ssim", "test/neg_elbo")


def improves(name: str, value: Optional[float], best: Optional[float]) -> bool:
    """Whether `value` of metric `name` beats `best` (None: nothing yet)."""
    if value is None or not math.isfinite(value):
        return False
    return best is None or (value > best if TRACKED[name][0] else value < best)

