"""How well do a model's codes cover N(0, I)? Distances from prior draws to the nearest training code.

A decoder is trained where training codes are; a draw far from every code decodes to something it
never learnt (a blend). For each run this prints the median distance to the nearest of N training
posterior means from: held-out test codes, N(0, I) draws, and the fitted mixture's draws; and, as
the yardstick, the same distance for N(0, I) draws when the codes themselves are N(0, I) draws.
It also prints the codes' mean, covariance eigenvalues and squared sliced Wasserstein distance to
N(0, I) (500 directions, 10,000 draws): the low-order statistics the batch matchers see.

    python bench/code_coverage.py runs/prior_match/full/*/checkpoints/last.pt [--codes 8000]
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import ot
import torch

import vaegan
from vaegan.data import load_data


def median_nearest(queries: torch.Tensor, codes: torch.Tensor) -> float:
    return torch.cdist(queries, codes).min(1).values.median().item()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--codes", type=int, default=8000, help="training images whose means are the codes")
    p.add_argument("--queries", type=int, default=2000, help="draws (and test images) measured")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    print("| run | mean ‖μ‖ | cov eigenvalues | SWD² to N(0,I) | nearest code: test codes | N(0,I) draws "
          "| mixture draws | N(0,I) draws if codes were N(0,I) |")
    print("|---|---|---|---|---|---|---|---|")
    for path in args.checkpoints:
        model = vaegan.load(path, device="cpu")
        train, _, test, *_ = load_data(replace(model.config, limit_train=args.codes, limit_test=args.queries))
        codes = torch.cat([model.encode(b) for b in train.in_order(500)]).flatten(1)
        test_codes = torch.cat([model.encode(b) for b in test.in_order(500)]).flatten(1)
        gen = torch.Generator().manual_seed(args.seed)
        dims = codes.shape[1]
        prior_draws = torch.randn(args.queries, dims, generator=gen)
        ideal = median_nearest(prior_draws, torch.randn(len(codes), dims, generator=gen))
        mixture = (median_nearest(model.latents(args.queries, "gmm", seed=args.seed).flatten(1), codes)
                   if model.prior is not None else float("nan"))
        eig = torch.linalg.eigvalsh(torch.cov(codes.T))
        directions = torch.randn(dims, 500, generator=gen)
        swd = ot.sliced_wasserstein_distance(codes, torch.randn(10_000, dims, generator=gen),
                                             projections=directions / directions.norm(dim=0)) ** 2
        print(f"| {path} | {codes.mean(0).norm():.2f} | {eig.min():.2f}–{eig.max():.2f} | {swd:.4f} "
              f"| {median_nearest(test_codes, codes):.2f} | {median_nearest(prior_draws, codes):.2f} "
              f"| {mixture:.2f} | {ideal:.2f} |")


if __name__ == "__main__":
    with torch.no_grad():
        main()
