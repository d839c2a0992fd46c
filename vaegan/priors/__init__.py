"""The priors a trained model draws its latents from, and their one registry.

- `gaussian`: N(0, I), what the VAE's KL term pulls towards;
- `gmm`: a Gaussian mixture fitted on the training posterior means after training (mixture.py);
- `diffusion`: a denoising diffusion model of the same means, trained by `vaegan-prior`
  (diffusion.py; its training run in training.py), kept in RUN/prior/<checkpoint name>/.

This module stays light (no torch, no diffusers): `--help` of every program reads its names.
"""
from __future__ import annotations

from pathlib import Path

PRIORS = ("gaussian", "gmm", "diffusion")  # in the order reports list them
METRIC_SUFFIXES = {"gaussian": "", "gmm": "_gmm", "diffusion": "_diffusion"}  # val/domain_fd_samples<suffix>
PRIOR_CHOICES = ("auto",) + PRIORS  # what --prior takes: auto = the best the model has (vaegan.api.auto_prior)

# How the diffusion prior's few sampling steps integrate the reverse process: "ddim" (deterministic
# DDIM) or "dpm" (DPM-Solver++, second order multistep, Lu et al. 2022: its higher order is meant to
# need fewer steps).
SAMPLERS = ("ddim", "dpm")
# Where those steps sit on the 1,000 training timesteps (diffusion.py says why "leading" is the default).
SPACINGS = ("leading", "trailing")
# What the denoiser learns to predict (diffusers' prediction_type names): the noise, or the velocity
# v = sqrt(abar) * noise - sqrt(1 - abar) * x0 (Salimans & Ho 2022).
PREDICTIONS = ("epsilon", "v_prediction")


def prior_dir(checkpoint: Path) -> Path:
    """Where the learned prior of RUN/checkpoints/<name>.pt lives: RUN/prior/<name>/."""
    return Path(checkpoint).parent.parent / "prior" / Path(checkpoint).stem
