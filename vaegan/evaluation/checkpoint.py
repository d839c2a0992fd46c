"""The work behind `eval.py` (vaegan/programs/eval.py is its light command line): test-split metrics
of a trained checkpoint, sample and reconstruction files."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from ..api import auto_prior, diffusion_prior_of
from ..checkpoint import config_from_checkpoint, inference_weights, load_checkpoint, load_weights
from ..config import Config, ConfigError
from ..data import load_data
from ..device import resolve_device
from ..losses import LPIPS, VAEGANLoss
from ..models import build_model
from ..priors import METRIC_SUFFIXES, PRIORS
from ..priors.mixture import GaussianMixturePrior, posterior_means, sample_latents
from .domain import dataset_classifier, fidelity_metrics, inception_fid
from .metrics import LIKELIHOODS, importance_weighted_bound, split_metrics

EvalOptions = Any  # vaegan.programs.eval's options (a program's front door: the work never imports it)


def phase(message: str) -> None:
    """What eval.py is doing now, on stderr: some phases take minutes on a CPU."""
    print(f"eval.py: {message} ...", file=sys.stderr, flush=True)


@torch.no_grad()
def iw_metrics(model, images: torch.Tensor, kind: str, k: int, batch_size: int) -> dict:
    """Negative importance-weighted bound with k samples, nats per image."""
    iw = torch.cat([importance_weighted_bound(model, x, kind, k) for x in images.split(max(1, batch_size // 4))])
    return {"test/nll_iw": -iw.mean().item(), "iw_samples": k}


@torch.no_grad()
def save_images(path: str, images: torch.Tensor) -> None:
    """[N, C, H, W] -> float32 [N, H, W] (grayscale) or [N, C, H, W] in [0, 1]."""
    array = images.float().clamp(0, 1).cpu().numpy()
    np.save(path, array[:, 0] if array.shape[1] == 1 else array)


def eval_config(args: EvalOptions, saved: dict) -> Config:
    """The checkpoint's config with the data, test size, LPIPS backbone and device eval.py was given."""
    overrides = {k: v for k, v in (("dataset", args.dataset), ("data_dir", args.data_dir),
                                   ("limit_test", args.n), ("lpips_backbone", args.lpips_backbone))
                 if v is not None}
    overrides.setdefault("limit_test", None)  # the whole test split, whatever the run used per epoch
    if "dataset" in overrides and "data_dir" not in overrides:
        overrides["data_dir"] = None
    return config_from_checkpoint(saved["config"], Path(args.checkpoint), **overrides, device=args.device)


def model_priors(args: EvalOptions, saved: dict, cfg: Config, model, train, wanted: bool, device) -> dict:
    """The priors the model has, by name (vaegan.priors.PRIORS): N(0, I), its mixture (refitted with
    --prior-components, or fitted here when the run kept none and a metric needs one) and its learned prior."""
    mixture = GaussianMixturePrior.from_state_dict(saved["prior"]) if saved.get("prior") else None
    if (wanted or args.prior == "gmm") and cfg.latent_shape == "vector" and (mixture is None or args.prior_components):
        mu = posterior_means(model, train.head(cfg.prior_fit_images).in_order(args.batch_size))
        phase(f"fitting a {args.prior_components or cfg.prior_components}-component mixture on "
              f"{len(mu)} posterior means")
        mixture = GaussianMixturePrior.fit(mu, args.prior_components or cfg.prior_components, cfg.seed)
    if args.prior == "gmm" and mixture is None:
        raise ConfigError("--prior gmm needs a vector latent (this checkpoint's latent is spatial)")
    diffusion = diffusion_prior_of(Path(args.checkpoint), saved["step"])
    if args.prior == "diffusion" and diffusion is None:
        raise ConfigError(f"--prior diffusion: no prior trained for {args.checkpoint} (vaegan-prior --checkpoint ...)")
    found = dict(zip(PRIORS, (None, mixture, None if diffusion is None else diffusion.to(device))))
    return {name: prior for name, prior in found.items() if name == "gaussian" or prior is not None}


@torch.no_grad()  # without it the test set's encoder graphs stay alive: ~20 GB at default width
def run_eval(args: EvalOptions) -> dict[str, float]:
    saved = load_checkpoint(Path(args.checkpoint))
    cfg = eval_config(args, saved)
    device = resolve_device(cfg.device)
    # The training split is loaded too (lazily decoded when streamed): the mixture and the domain
    # classifier are fitted on it. Both are resized to the spec the model was trained at.
    data = load_data(cfg)
    # The test split is read by every metric below: decoded once (a no-op for resident data).
    train, test = data.train.to(device), data.test.to(device).to_resident(args.batch_size)
    model = build_model(cfg).to(device)
    load_weights(model, inference_weights(saved), Path(args.checkpoint))
    model.eval()
    perceptual = LPIPS(cfg.lpips_backbone) if cfg.perceptual_weight > 0 else None
    loss_fn = VAEGANLoss.from_config(cfg, perceptual).to(device)
    metrics = split_metrics(model, loss_fn, test, args.batch_size, "test", progress=True)
    metrics["likelihood"] = LIKELIHOODS[cfg.recon_loss]
    torch.manual_seed(args.seed)
    # The expensive parts by default where they are fast: on a GPU (eval.py --help says so).
    iw_samples = args.iw_samples if args.iw_samples is not None else (100 if device.type == "cuda" else 0)
    fid = args.fid if args.fid is not None else device.type == "cuda"
    if iw_samples > 0:
        phase(f"importance-weighted bound with {iw_samples} samples per image")
        metrics.update(iw_metrics(model, test.images, cfg.recon_loss, iw_samples, args.batch_size))
    recon = decode(model, posterior_means(model, test.images.split(args.batch_size)), args.batch_size)
    priors = model_priors(args, saved, cfg, model, train, args.fidelity or fid, device)
    if args.fidelity or fid:  # each compares the test set with as many prior samples
        samples = {METRIC_SUFFIXES[name]: decode(model, draws(model, prior, len(test), args), args.batch_size)
                   for name, prior in priors.items()}
    if args.fidelity:
        phase("domain classifier: loaded from the cache, or trained once on the dataset's training split")
        classifier = dataset_classifier(cfg, device, data)
        metrics.update(fidelity_metrics(classifier, test, recon, samples, args.batch_size))
        if priors.get("diffusion") is not None and priors["diffusion"].conditional:
            metrics.update(conditional_metrics(model, priors["diffusion"], classifier, test, args))
    if fid:
        metrics.update(fid_metrics(test.images, recon, samples, args.fid_weights))
    if args.save_recon:
        save_images(args.save_recon, recon)
    if args.save_samples:
        name = args.prior if args.prior != "auto" else auto_prior(priors.get("gmm"), priors.get("diffusion"))
        save_images(args.save_samples, decode(model, draws(model, priors[name], args.num_samples, args),
                                              args.batch_size))
        metrics["samples_prior"] = name
    return {"epoch": saved["epoch"], "test_images": len(test), **metrics}


def conditional_metrics(model, prior, classifier, test, args: EvalOptions) -> dict[str, float]:
    """A conditional prior's class-balanced samples, as many as test images, at its own guidance."""
    from .domain import conditional_sample_metrics, features_and_logits

    asked = torch.arange(len(test)) % len(prior.class_names)
    phase(f"{len(test)} class-balanced samples of the conditional prior (guidance {prior.guidance})")
    z = sample_latents(model, len(test), prior, torch.Generator().manual_seed(args.seed), args.sampling_steps, asked)
    real, _ = features_and_logits(classifier, test.in_order(args.batch_size))
    return conditional_sample_metrics(classifier, real, decode(model, z, args.batch_size), asked, "test")


def draws(model, prior, n: int, args: EvalOptions) -> torch.Tensor:
    """n latents of `prior` (None: N(0, I)) from eval.py's --seed."""
    phase(f"{n} samples of the {prior.kind if prior else 'N(0, I)'} prior")
    return sample_latents(model, n, prior, torch.Generator().manual_seed(args.seed), args.sampling_steps)


def fid_metrics(real: torch.Tensor, recon: torch.Tensor, samples: dict, weights: Optional[str]) -> dict:
    """Inception FID of the reconstructions and of each prior's samples against the test images."""
    fakes = {"recon": recon, **{f"samples{suffix}": images for suffix, images in samples.items()}}
    phase(f"Inception FID of {len(fakes)} image sets against {len(real)} test images")
    scores, skipped = inception_fid(real, fakes, weights)
    if skipped:
        print(skipped, file=sys.stderr)
    return {f"test/fid_{name}": value for name, value in scores.items()}


@torch.no_grad()
def decode(model, z: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([model.decode_images(c) for c in z.split(batch_size)])
