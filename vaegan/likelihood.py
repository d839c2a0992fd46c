"""Log-likelihood bounds in nats per image: the ELBO and the importance-weighted bound (IWAE),

    log p(x) >= log 1/K sum_k p(x|z_k) p(z_k) / q(z_k|x),   z_k ~ q(z|x),

which equals the ELBO in expectation for K = 1 and tightens as K grows. The decoder likelihood
follows the reconstruction loss it was trained with (`LIKELIHOODS`).
"""
from __future__ import annotations

import math

import torch

from .losses import kl_per_image, rec_per_image
from .models import VAE

LIKELIHOODS = {
    "bce": "Bernoulli on [0, 1] pixels (log p = -BCE)",
    "mse": "Gaussian, variance 1/2 per pixel (log p = -SE - D/2 log pi)",
    "l1": "Laplace, scale 1 per pixel (log p = -AE - D log 2)",
}


def log_normaliser(kind: str, dims: int) -> float:
    """What turns minus the training reconstruction loss of an image of `dims` values into log p(x|z)."""
    return {"bce": 0.0, "mse": 0.5 * dims * math.log(math.pi), "l1": dims * math.log(2.0)}[kind]


def log_px_given_z(kind: str, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-image log p(x|z) for decoder `logits` [..., C, H, W] and images broadcast to them."""
    x = x.expand_as(logits)
    return -rec_per_image(kind, logits, x) - log_normaliser(kind, x.shape[-3:].numel())


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
        log_w.append(log_px_given_z(kind, logits, x.unsqueeze(0))
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
    return log_px_given_z(kind, logits, x.unsqueeze(0)).mean(0) - kl
