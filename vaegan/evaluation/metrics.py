"""What a trained model scores, in nats per image and on the [0, 1] pixel scale.

Per split (`split_metrics`): pixel metrics (MSE, PSNR, SSIM) of reconstructions decoded from the
posterior mean, plus the loss terms; the ELBO terms use one posterior sample drawn under a fixed
seed, so evaluation never moves the training RNG.

Likelihood bounds: the ELBO and the importance-weighted bound (IWAE),

    log p(x) >= log 1/K sum_k p(x|z_k) p(z_k) / q(z_k|x),   z_k ~ q(z|x),

which equals the ELBO in expectation for K = 1 and tightens as K grows. The decoder likelihood
follows the reconstruction loss it was trained with (`LIKELIHOODS`).
"""
from __future__ import annotations

import math

import torch
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure
from tqdm.auto import tqdm

from ..data import ImageSplit
from ..device import autocast
from ..distributed import all_reduce_sum
from ..losses import VAEGANLoss, kl_per_image, rec_per_image
from ..models import VAE, VAEOutput, evaluating, reparameterize

LIKELIHOODS = {
    "bce": "Bernoulli on [0, 1] pixels (log p = -BCE)",
    "mse": "Gaussian, variance 1/2 per pixel (log p = -SE - D/2 log pi)",
    "l1": "Laplace, scale 1 per pixel (log p = -AE - D log 2)",
}


def log_normaliser(kind: str, dims: int) -> float:
    """What turns minus the training reconstruction loss of an image of `dims` values into log p(x|z)."""
    return {"bce": 0.0, "mse": 0.5 * dims * math.log(math.pi), "l1": dims * math.log(2.0)}[kind]


def log_px_given_z(kind: str, logits: torch.Tensor, x: torch.Tensor, linear: bool = False) -> torch.Tensor:
    """Per-image log p(x|z) for decoder outputs `logits` [..., C, H, W] (`linear`: [-1, 1] images)
    and images broadcast to them."""
    x = x.expand_as(logits)
    return -rec_per_image(kind, logits, x, linear) - log_normaliser(kind, x.shape[-3:].numel())


def _log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return (-0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + math.log(2 * math.pi))).flatten(2).sum(-1)


@torch.no_grad()
def importance_weighted_bound(model: VAE, x: torch.Tensor, kind: str, k: int,
                              chunk: int = 25) -> torch.Tensor:
    """Per-image IW bound with k posterior samples, in nats ([B]); samples drawn in chunks."""
    mu, logvar = (t.float() for t in model.encode(x))
    log_w = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        z = mu.unsqueeze(0) + torch.randn((n, *mu.shape), device=mu.device) * torch.exp(0.5 * logvar)
        logits = model.decode(z.flatten(0, 1)).float().unflatten(0, (n, len(x)))
        log_w.append(log_px_given_z(kind, logits, x.unsqueeze(0), model.linear_output)
                     + _log_normal(z, torch.zeros_like(mu), torch.zeros_like(logvar))
                     - _log_normal(z, mu, logvar))
    return torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k)


@torch.no_grad()
def elbo(model: VAE, x: torch.Tensor, kind: str, samples: int = 1) -> torch.Tensor:
    """Per-image ELBO, E_q[log p(x|z)] (over `samples` draws) - KL(q || N(0, I)), in nats ([B])."""
    mu, logvar = (t.float() for t in model.encode(x))
    kl = kl_per_image(mu, logvar)
    z = mu.unsqueeze(0) + torch.randn((samples, *mu.shape), device=mu.device) * torch.exp(0.5 * logvar)
    logits = model.decode(z.flatten(0, 1)).float().unflatten(0, (samples, len(x)))
    return log_px_given_z(kind, logits, x.unsqueeze(0), model.linear_output).mean(0) - kl


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
                sampled = VAEOutput(model.decode(z), mu, logvar, z, linear=model.linear_output)
                recon = model.decode_images(mu)
                terms = loss_fn.terms(x, sampled)  # LPIPS's VGG in the autocast dtype, its maths in fp32
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
