"""End-of-run figures: interpolations between test images, and the decoded 2-d manifold."""
from __future__ import annotations

from pathlib import Path

import torch

from ..models import VAE, evaluating
from .gif import write_png
from .render import image_grid, with_caption

STEPS = 10


@torch.no_grad()
def interpolation_strip(model: VAE, images: torch.Tensor, path: Path, tag: str) -> None:
    """Rows of STEPS decodes on the straight line between the posterior means of image pairs
    (consecutive classes: 0->1, 2->3, ...); the end points are the originals' reconstructions."""
    with evaluating(model):
        mu = model.encode(images)[0].float()
        pairs = [(i, i + 1) for i in range(0, len(images) - 1, 2)]
        t = torch.linspace(0, 1, STEPS, device=mu.device).view(-1, *[1] * (mu.dim() - 1))
        rows = [model.decode_images((1 - t) * mu[a] + t * mu[b]) for a, b in pairs]
    write_png(path, with_caption(image_grid(torch.cat(rows), nrow=STEPS), f"{tag} · interpolations"))


@torch.no_grad()
def manifold_grid(model: VAE, path: Path, tag: str, n: int = 15) -> None:
    """Decodes of a grid of 2-d latents placed at evenly spaced quantiles of the N(0, 1) prior."""
    device = next(model.parameters()).device
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.03, 0.97, n))
    z = torch.stack(torch.meshgrid(q, q.flip(0), indexing="xy"), dim=-1).reshape(-1, 2).to(device)
    with evaluating(model):
        images = model.decode_images(z)
    write_png(path, with_caption(image_grid(images, nrow=n), f"{tag} · decoded 2-d manifold"))
