"""`python eval.py --checkpoint runs/.../checkpoints/last.pt`: test-split metrics of a trained model."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from .checkpoint import LEGACY, inference_weights, load_checkpoint, load_weights
from .cli import OneLineParser, run_cli
from .config import DATASETS, ConfigError, build_config
from .data import load_data
from .device import resolve_device
from .fidelity import INCEPTION_FILE, domain_classifier, fidelity_metrics, inception_fid
from .likelihood import LIKELIHOODS, importance_weighted_bound
from .losses import LPIPS, VAEGANLoss
from .metrics import evaluate
from .models import build_model
from .prior import GaussianMixturePrior, posterior_means, sample_latents


def eval_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="eval.py", description="Evaluate a vaegan checkpoint on the test split.")
    p.add_argument("--checkpoint", required=True, help="path to a checkpoint (e.g. runs/.../checkpoints/last.pt)")
    p.add_argument("--dataset", choices=DATASETS, help="dataset (default: the one it was trained on)")
    p.add_argument("--data-dir", help="the data's folder (default: as in training)")
    p.add_argument("--n", type=int, help="evaluate only the first N test images (default: the whole test "
                                         "split, whatever --limit-test the run trained with)")
    p.add_argument("--batch-size", type=int, default=500, help="evaluation batch size (default: 500)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="(default: auto)")
    p.add_argument("--lpips-backbone", help="VGG16 weights for LPIPS: pretrained | PATH | random "
                                            "(default: as in training)")
    p.add_argument("--iw-samples", type=int, default=100, metavar="K",
                   help="posterior samples for the importance-weighted likelihood bound; 0 skips it (default: 100)")
    p.add_argument("--save-recon", metavar="FILE.npy", help="write reconstructions (decoded posterior means) of "
                                                            "the evaluated test images, in the test file's order, "
                                                            "float32 [N, H, W] (grayscale) or [N, C, H, W] in [0, 1]")
    p.add_argument("--save-samples", metavar="FILE.npy", help="write --num-samples decodes of prior draws the same way")
    p.add_argument("--num-samples", type=int, default=1000, metavar="M", help="prior samples for --save-samples "
                                                                               "(default: 1000)")
    p.add_argument("--prior", choices=("auto", "gaussian", "gmm"), default="auto",
                   help="prior of --save-samples: gaussian = N(0, I); gmm = the checkpoint's Gaussian mixture "
                        "(fitted here on the training posterior means if it has none); auto = gmm when the "
                        "checkpoint has one (default: auto). The fidelity metrics report both priors")
    p.add_argument("--prior-components", type=int, metavar="K",
                   help="refit the mixture with K components (default: the checkpoint's mixture, or the "
                        "run's --prior-components)")
    p.add_argument("--no-fidelity", action="store_true", help="skip the domain classifier metrics (its first "
                                                              "training takes a minute or two on a CPU)")
    p.add_argument("--fid-weights", metavar="PATH", help=f"local {INCEPTION_FILE} for Inception FID (default: "
                                                         f"torchmetrics downloads it; skipped with a notice if it cannot)")
    p.add_argument("--no-fid", action="store_true", help="skip Inception FID (slow on a CPU: 299 px Inception)")
    p.add_argument("--seed", type=int, default=0, help="seed for posterior and prior sampling (default: 0)")
    p.add_argument("--json", metavar="FILE", help="also write the metrics to this JSON file")
    return p


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


@torch.no_grad()  # without it the test set's encoder graphs stay alive: ~20 GB at default width
def run_eval(args: argparse.Namespace) -> dict[str, float]:
    saved = load_checkpoint(Path(args.checkpoint))
    overrides = {k: v for k, v in (("dataset", args.dataset), ("data_dir", args.data_dir),
                                   ("limit_test", args.n), ("lpips_backbone", args.lpips_backbone))
                 if v is not None}
    overrides.setdefault("limit_test", None)  # the whole test split, whatever the run used per epoch
    if "dataset" in overrides and "data_dir" not in overrides:
        overrides["data_dir"] = None
    try:
        cfg = build_config({**LEGACY, **saved["config"], **overrides, "device": args.device})
    except (TypeError, KeyError) as e:
        raise ConfigError(f"{args.checkpoint} holds no usable vaegan config ({e})") from None
    device = resolve_device(cfg.device)
    # The training split is loaded too (lazily decoded when streamed): the mixture and the domain
    # classifier are fitted on it. Both are resized to the spec the model was trained at.
    train, test, _, _ = load_data(cfg)
    train, test = train.to(device), test.to(device)
    test_images = torch.cat(list(test.in_order(args.batch_size)))
    model = build_model(cfg).to(device)
    load_weights(model, inference_weights(saved), Path(args.checkpoint))
    model.eval()
    perceptual = LPIPS(cfg.lpips_backbone) if cfg.perceptual_weight > 0 else None
    metrics = evaluate(model, VAEGANLoss(cfg, perceptual).to(device), test, args.batch_size, "test")
    metrics["likelihood"] = LIKELIHOODS[cfg.recon_loss]
    torch.manual_seed(args.seed)
    if args.iw_samples > 0:
        metrics.update(iw_metrics(model, test_images, cfg.recon_loss, args.iw_samples, args.batch_size))
    recon = decode(model, posterior_means(model, test_images.split(args.batch_size)), args.batch_size)
    mixture = GaussianMixturePrior.from_state_dict(saved["prior"]) if saved.get("prior") else None
    wants_mixture = not (args.no_fidelity and args.no_fid) or args.prior == "gmm"
    if wants_mixture and cfg.latent_shape == "vector" and (mixture is None or args.prior_components):
        mu = posterior_means(model, train.head(cfg.prior_fit_images).in_order(args.batch_size))
        mixture = GaussianMixturePrior.fit(mu, args.prior_components or cfg.prior_components, cfg.seed)
    if args.prior == "gmm" and mixture is None:
        raise ConfigError("--prior gmm needs a vector latent (this checkpoint's latent is spatial)")
    priors = {"": None, "_gmm": mixture} if mixture is not None else {"": None}
    if not (args.no_fidelity and args.no_fid):  # both compare the test set with as many prior samples
        samples = {suffix: decode(model, sample_latents(model, len(test), prior,
                                                        torch.Generator().manual_seed(args.seed)), args.batch_size)
                   for suffix, prior in priors.items()}
    if not args.no_fidelity and train.labels is None:
        print("domain FD skipped: the data has no labels to train its classifier on", file=sys.stderr)
    elif not args.no_fidelity:
        # On the whole training split, whatever --limit-train the run used: one classifier per dataset.
        full_train = train if cfg.limit_train is None else load_data(replace(cfg, limit_train=None))[0].to(device)
        classifier = domain_classifier(full_train, cfg.dataset)
        metrics.update(fidelity_metrics(classifier, test, recon, samples, args.batch_size))
    if not args.no_fid:
        fakes = {"recon": recon, **{f"samples{suffix}": images for suffix, images in samples.items()}}
        scores, skipped = inception_fid(test_images, fakes, args.fid_weights)
        if skipped:
            print(skipped, file=sys.stderr)
        metrics.update({f"test/fid_{name}": value for name, value in scores.items()})
    if args.save_recon:
        save_images(args.save_recon, recon)
    if args.save_samples:
        prior = None if args.prior == "gaussian" else mixture
        z = sample_latents(model, args.num_samples, prior, torch.Generator().manual_seed(args.seed))
        save_images(args.save_samples, decode(model, z, args.batch_size))
        metrics["samples_prior"] = "gaussian" if prior is None else "gmm"
    return {"epoch": saved["epoch"], "test_images": len(test), **metrics}


@torch.no_grad()
def decode(model, z: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([model.decode_images(c) for c in z.split(batch_size)])


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = eval_parser().parse_args(argv)
    if (args.n is not None and args.n < 1) or args.batch_size < 1 or args.num_samples < 1 or args.iw_samples < 0 \
            or (args.prior_components is not None and args.prior_components < 1):
        eval_parser().error("--n, --batch-size, --num-samples and --prior-components must be >= 1, "
                            "--iw-samples >= 0")

    def go() -> int:
        metrics = run_eval(args)
        width = max(map(len, metrics))
        for k, v in metrics.items():
            print(f"{k:<{width}}  {v:.6g}" if isinstance(v, float) else f"{k:<{width}}  {v}")
        print("pixel metrics on the [0, 1] scale (data_range=1); ELBO and IW bound in nats per image")
        if args.json:
            Path(args.json).write_text(json.dumps(metrics, indent=2) + "\n")
        return 0

    return run_cli(go)
