"""How many DDIM steps does the diffusion prior need, and at what noise scale? Domain FD and class
entropy of N samples per step count (and temperature), next to the model's other priors and the floor
(FD between the test split's even and odd images, so that a folder stored class by class gives both halves
every class; the entropy column of that row is the real test images'), with the wall time of each draw,
side by side in one run.

    python bench/prior_steps.py --checkpoint runs/diffusion_prior/spatial/checkpoints/best.pt --steps 10 25 50 \
        [--temperatures 1 0.9] [--spacings leading trailing] [--samplers ddim dpm]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import vaegan
from vaegan.checkpoint import load_checkpoint, saved_config
from vaegan.config import build_config
from vaegan.data import load_data
from vaegan.evaluation.domain import class_entropy, dataset_classifier, features_and_logits, frechet_distance
from vaegan.priors import SAMPLERS, SPACINGS


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--steps", type=int, nargs="+", default=[10, 25, 50])
    p.add_argument("--n", type=int, default=10000, help="samples per row (default: the test split's 10,000)")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--seed", type=int, default=0,
                   help="draws of seed s use the noise seeds s*N ... s*N+N-1 (default: 0)")
    p.add_argument("--temperatures", type=float, nargs="+", default=[1.0],
                   help="scales of the diffusion prior's starting noise, each a row per step count (default: 1)")
    p.add_argument("--spacings", nargs="+", choices=SPACINGS, default=None,
                   help="DDIM timestep spacings, each a row per step count (default: the prior's own)")
    p.add_argument("--samplers", nargs="+", choices=SAMPLERS, default=None,
                   help="samplers (ddim, dpm = DPM-Solver++), each a row per step count (default: the prior's own)")
    args = p.parse_args()

    model = vaegan.load(args.checkpoint, "cpu")
    saved = load_checkpoint(Path(args.checkpoint))["config"]
    cfg = build_config({**saved_config(saved), "device": "cpu", "resume": "no"})
    data = load_data(cfg)
    classifier = dataset_classifier(cfg, torch.device("cpu"), data)
    real, real_logits = features_and_logits(classifier, data.test.in_order(args.batch_size))
    print(f"torch threads {torch.get_num_threads()}, {args.n} samples per row, checkpoint {args.checkpoint}")
    print(f"{'prior':<12} {'steps':>5} {'temp':>5} {'spacing':>8} {'sampler':>7} {'domain FD':>10} {'entropy':>8} "
          f"{'draw s':>8}")
    print(f"{'real halves':<12} {'':>5} {'':>5} {'':>8} {'':>7} {frechet_distance(real[0::2], real[1::2]):>10.2f} "
          f"{class_entropy(real_logits):>8.3f}")
    rows = [(name, None, 1.0, "", "") for name in model.priors() if name != "diffusion"]
    if "diffusion" in model.priors():
        spacings = args.spacings or [model.diffusion.timestep_spacing]
        samplers = args.samplers or [model.diffusion.sampler]
        rows += [("diffusion", k, t, s, m) for m in samplers for k in args.steps for t in args.temperatures
                 for s in spacings]
    for name, steps, temperature, spacing, sampler in rows:
        if spacing:
            model.diffusion.timestep_spacing, model.diffusion.sampler = spacing, sampler
        start = time.perf_counter()
        images = torch.cat([model.sample(len(chunk), name, temperature, seed=args.seed * args.n + int(chunk[0]),
                                         steps=steps or 25).cpu()
                            for chunk in torch.arange(args.n).split(args.batch_size)])
        seconds = time.perf_counter() - start
        feats, logits = features_and_logits(classifier, images.split(args.batch_size))
        print(f"{name:<12} {steps or '':>5} {temperature:>5.2f} {spacing:>8} {sampler:>7} "
              f"{frechet_distance(real, feats):>10.2f} {class_entropy(logits):>8.3f} {seconds:>8.1f}")


if __name__ == "__main__":
    main()
