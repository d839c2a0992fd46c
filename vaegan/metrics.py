"""Per-split evaluation: pixel metrics on the [0, 1] scale plus the loss terms, in nats per image.

Reconstructions are decoded from the posterior mean; the ELBO terms use one posterior sample
drawn under a fixed seed, so evaluation never moves the training RNG.
"""
from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from .data import ImageSplit
from .device import autocast
from .distributed import all_reduce_sum
from .likelihood import log_normaliser
from .losses import VAEGANLoss
from .models import VAE, VAEOutput, evaluating, reparameterize

EVAL_SEED = 1234


@torch.no_grad()
def split_metrics(model: VAE, loss_fn: VAEGANLoss, split: ImageSplit, batch_size: int,
             prefix: str, amp_dtype: torch.dtype | None = None, progress: bool = False) -> dict[str, float]:
    """`progress`: a progress bar over the batches (rank 0 of a run, eval.py)."""
    device = split.device
    psnr = PeakSignalNoiseRatio(data_range=1.0).to(device)
    ssim = StructuralSimilarityIndexMeasure(data_range=1.0).to(device)
    sums: dict[str, torch.Tensor] = {}
    with evaluating(model), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(EVAL_SEED)
        batches = tqdm(split.in_order(batch_size), total=math.ceil(len(split) / batch_size), leave=False,
                       desc=f"evaluating {prefix}", dynamic_ncols=True, disable=not progress)
        for x in batches:
            with autocast(device, amp_dtype):
                mu, logvar = model.encode(x)
                z = reparameterize(mu, logvar)
                sampled = VAEOutput(model.decode(z), mu, logvar, z)
                recon = model.decode_images(mu)
            terms = loss_fn.terms(x, sampled)
            terms["mse"] = (recon - x).pow(2).flatten(1).mean(1)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v.sum()
            psnr.update(recon, x)
            ssim.update(recon, x)
    # Under DDP each rank holds a shard: add the sums up (torchmetrics syncs its own states).
    n = all_reduce_sum(torch.tensor(float(len(split)), device=device))
    out = {f"{prefix}/{k}": (all_reduce_sum(v) / n).item() for k, v in sums.items()}
    out[f"{prefix}/psnr"] = psnr.compute().item()
    out[f"{prefix}/ssim"] = ssim.compute().item()
    kind = loss_fn.recon_loss
    out[f"{prefix}/neg_elbo"] = (out[f"{prefix}/rec"] + out[f"{prefix}/kl"]
                                 + log_normaliser(kind, split.spec.channels * split.spec.size ** 2))
    return out
