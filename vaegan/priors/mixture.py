"""Priors to sample a trained VAE from: N(0, I), or a Gaussian mixture fitted after training on
the training set's posterior means (ex-post density estimation, Ghosh et al. 2020).

A VAE's aggregate posterior rarely fills N(0, I): decodes of prior draws that land where no
training image's posterior sits ("prior holes") look unlike the data. The mixture is fitted by
scikit-learn's `GaussianMixture` (full covariances) and kept as plain tensors, so it travels in
a checkpoint and is sampled with a torch generator (reproducible on any device).
"""
from __future__ import annotations

from typing import Iterable, Optional

import torch
from sklearn.mixture import GaussianMixture


class GaussianMixturePrior:
    def __init__(self, weights: torch.Tensor, means: torch.Tensor, scale_tril: torch.Tensor,
                 latent_dims: tuple[int, ...]):
        self.weights, self.means, self.scale_tril = weights, means, scale_tril  # [K], [K, D], [K, D, D]
        self.latent_dims = tuple(latent_dims)

    @classmethod
    def fit(cls, mu: torch.Tensor, components: int, seed: int = 0) -> "GaussianMixturePrior":
        """Fit on posterior means `mu` [N, *latent_dims] (at most N components)."""
        flat = mu.detach().flatten(1).double().cpu().numpy()
        gmm = GaussianMixture(n_components=min(components, len(flat)), covariance_type="full",
                              random_state=seed).fit(flat)
        covariances = torch.from_numpy(gmm.covariances_)
        return cls(torch.from_numpy(gmm.weights_).float(), torch.from_numpy(gmm.means_).float(),
                   torch.linalg.cholesky(covariances).float(), tuple(mu.shape[1:]))

    kind = "gmm"

    def sample(self, n: int, generator: Optional[torch.Generator] = None, temperature: float = 1.0,
               steps: Optional[int] = None) -> torch.Tensor:
        """n draws [n, *latent_dims] on the CPU: a component by its weight, then its Gaussian (its
        noise scaled by `temperature`); `steps` is for the diffusion prior's interface, unused here."""
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = temperature * torch.randn((n, self.means.shape[1], 1), generator=generator)
        z = self.means[component] + (self.scale_tril[component] @ eps).squeeze(-1)
        return z.reshape(n, *self.latent_dims)

    def state_dict(self) -> dict:
        return {"kind": "gmm", "weights": self.weights, "means": self.means, "scale_tril": self.scale_tril,
                "latent_dims": list(self.latent_dims)}

    @classmethod
    def from_state_dict(cls, state: dict) -> "GaussianMixturePrior":
        return cls(state["weights"], state["means"], state["scale_tril"], tuple(state["latent_dims"]))


def sample_latents(model, n: int, prior=None, generator: Optional[torch.Generator] = None,
                   steps: Optional[int] = None, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
    """n latent draws on the model's device, from `prior` (a GaussianMixturePrior or a DiffusionPrior:
    the same `sample` interface; `steps` and `labels` are the diffusion prior's) or (None) from N(0, I)."""
    if prior is None:
        return model.sample_prior(n, generator)
    conditioned = {} if labels is None else {"labels": labels}
    return prior.sample(n, generator, steps=steps, **conditioned).to(next(model.parameters()).device)


@torch.no_grad()
def posterior_means(model, batches: Iterable[torch.Tensor]) -> torch.Tensor:
    """The encoder's means of every batch (a tensor's `.split(n)` or a split's `in_order(n)`)."""
    return torch.cat([model.encode(x)[0].float() for x in batches])
