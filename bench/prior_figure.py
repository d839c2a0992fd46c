"""One figure of samples per prior the model has (N(0, I), the fitted mixture, the diffusion prior),
the same seed for each, stacked with a label per block — the pictures docs/results.md shows.

    python bench/prior_figure.py --checkpoint runs/diffusion_prior/spatial/checkpoints/last.pt \
        --out assets/priors_spatial.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import vaegan
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
    args = p.parse_args()

    model = vaegan.load(args.checkpoint, "cpu")
    blocks, labels, y = [], [], 0
    for name in model.priors():
        grid = image_grid(model.sample(args.num, name, seed=args.seed, steps=args.steps).cpu(), nrow=10)
        blocks.append(grid)
        labels.append((y + grid.shape[0] // 2 - 8, NAMES[name]))
        y += grid.shape[0]
    figure = with_caption(np.concatenate(blocks), args.caption or args.checkpoint, labels)
    write_png(Path(args.out), figure)
    print(f"wrote {args.out}: {', '.join(NAMES[n] for n in model.priors())}, {args.num} samples each")


if __name__ == "__main__":
    main()
