"""One figure of samples per prior the model has (N(0, I), the fitted mixture, the diffusion prior),
the same seed for each, stacked with a label per block — the pictures docs/results.md shows; with
--reconstructions N, the first N test images and their reconstructions on top.

    python bench/prior_figure.py --checkpoint runs/diffusion_prior/spatial/checkpoints/last.pt \
        --out assets/priors_spatial.png [--reconstructions 10] [--priors diffusion]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import vaegan
from vaegan.api import TrainedVAE
from vaegan.data import load_data
from vaegan.visuals.draw import image_grid, with_caption, write_png

NAMES = {"gaussian": "N(0, I)", "gmm": "mixture", "diffusion": "diffusion"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--num", type=int, default=20, help="samples per prior (default: 20, two rows of 10)")
    p.add_argument("--steps", type=int, help="DDIM steps of the diffusion prior (default: its recipe's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--caption", default="", help="text above the figure (default: the checkpoint's path)")
    p.add_argument("--reconstructions", type=int, default=0, metavar="N",
                   help="rows of the first N test images and their reconstructions on top (default: none)")
    p.add_argument("--priors", nargs="+", choices=sorted(NAMES), help="priors shown (default: every one it has)")
    args = p.parse_args()

    model = vaegan.load(args.checkpoint, "cpu")
    rows = test_rows(model, args.reconstructions) if args.reconstructions else []
    priors = args.priors or list(model.priors())
    rows += [(NAMES[name], model.sample(args.num, name, seed=args.seed, steps=args.steps)) for name in priors]
    blocks, labels, y = [], [], 0
    for label, images in rows:
        grid = image_grid(images.cpu(), nrow=10)
        blocks.append(grid)
        labels.append((y + grid.shape[0] // 2 - 8, label))
        y += grid.shape[0]
    figure = with_caption(np.concatenate(blocks), args.caption or args.checkpoint, labels)
    write_png(Path(args.out), figure)
    print(f"wrote {args.out}: {', '.join(label for label, _ in rows)}")


def test_rows(model: TrainedVAE, n: int) -> list[tuple[str, torch.Tensor]]:
    """The first n test images (one per category in turn, so the rows show every category) and their
    reconstructions."""
    test = load_data(model.config).test
    order = torch.arange(len(test))
    if test.labels is not None:  # round-robin over the classes: test folders are stored class by class
        place_in_class = torch.empty_like(order)
        for c in test.labels.unique():
            members = (test.labels == c).nonzero().flatten()
            place_in_class[members] = torch.arange(len(members))
        order = place_in_class.argsort(stable=True)
    originals = next(test.batches([order[:n]])).cpu()
    return [("original", originals), ("reconstruction", model.reconstruct(originals).cpu())]


if __name__ == "__main__":
    main()
