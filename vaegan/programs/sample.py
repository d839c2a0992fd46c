"""`vaegan-sample` / `python -m vaegan.programs.sample`: pictures from a trained model, no dataset needed.

    vaegan-sample --checkpoint runs/.../checkpoints/best.pt --num 64 --out samples.png  # prior samples
    vaegan-sample --checkpoint MODEL --reconstruct my_images/ --out recon.png      # originals | reconstructions
    vaegan-sample --checkpoint MODEL --reconstruct big.png --image-size 1024 --out big.png   # in tiles
    vaegan-sample --checkpoint MODEL --interpolate a.png b.png --steps 10 --out path.png
    vaegan-sample --checkpoint MODEL --traverse --dims 8 --out traverse.png        # vector latents

MODEL is a checkpoint (last.pt / best.pt) or a folder written by vaegan-export.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Optional, Sequence

from ..config import DEVICES, ConfigError
from ..options import REQUIRED, opt, options_parser, parse_options
from ..priors import PRIOR_CHOICES
from .common import run_cli

# torch is imported inside the work (vaegan.sample), so that --help answers at once.

MODE, DRAWS, GRID, HARDWARE = "What to draw", "Prior draws", "Grid and files", "Hardware and seed"


@dataclass
class SampleOptions:
    """vaegan-sample's flags (vaegan.options). Prior samples unless one of --reconstruct, --interpolate,
    --traverse names another kind of grid."""
    checkpoint: str = opt(REQUIRED, "a checkpoint (last.pt / best.pt) or a folder written by vaegan-export",
                          metavar="MODEL", group=MODE)
    reconstruct: Optional[list[str]] = opt(None, "image files or folders (PNG / JPEG / WebP / BMP): originals "
                                                 "above their reconstructions", metavar="PATH", group=MODE)
    interpolate: Optional[list[str]] = opt(None, "two image files: decodes along the line between their latents",
                                           metavar=("A", "B"), nargs=2, group=MODE)
    image_size: Optional[int] = opt(None, "--reconstruct at this size (px; default: the model's): a spatial model "
                                          "on diffusers' blocks encodes and decodes a larger image in overlapping "
                                          "tiles of its own size", minimum=1, metavar="PX", group=MODE)
    traverse: bool = opt(False, "vector latents: sweep each of the --dims most spread latent dims, one row each",
                         group=MODE)
    num: int = opt(64, "prior samples to draw", minimum=1, group=DRAWS)
    prior: str = opt("auto", "diffusion = the prior vaegan-prior trained for this checkpoint, gmm = the model's "
                             "fitted mixture, gaussian = N(0, I), auto = the first of those the model has, the "
                             "mixture before the diffusion prior when vaegan-prior measured its samples closer to "
                             "the data", choices=PRIOR_CHOICES, group=DRAWS)
    sampling_steps: Optional[int] = opt(None, "sampling steps of the diffusion prior (default: the number its "
                                              "vaegan-prior recipe set, 25 unless it said otherwise)", minimum=1,
                                        group=DRAWS)
    temperature: float = opt(1.0, "scale of the prior noise", minimum=0, group=DRAWS)
    label: Optional[str] = opt(None, "a class to draw (its index, or a folder's class name), from a conditional "
                                     "learned prior (vaegan-prior --conditional)", group=DRAWS)
    guidance: Optional[float] = opt(None, "classifier-free guidance of a conditional prior (default: the one it "
                                          "was trained with; 1: none)", minimum=0, group=DRAWS)
    steps: int = opt(10, "images along --interpolate / --traverse", minimum=1, group=GRID)
    dims: int = opt(8, "latent dims --traverse sweeps", minimum=1, group=GRID)
    sweep: float = opt(3.0, "--traverse sweeps each dim over centre +- this many standard deviations", minimum=0,
                       exclusive=True, flag="--range", metavar="RANGE", group=GRID)
    nrow: Optional[int] = opt(None, "images per row of the grid (default: 8, or --steps)", minimum=1, group=GRID)
    out: str = opt("samples.png", "PNG grid to write", group=GRID)
    npy: Optional[str] = opt(None, "also write the images as float32 [N, C, H, W] in [0, 1]", metavar="FILE",
                             group=GRID)
    seed: int = opt(0, "seed of the prior draws", group=HARDWARE)
    device: str = opt("auto", "where to run", choices=DEVICES, group=HARDWARE)

    def validate(self) -> None:
        modes = [flag for flag, on in (("--reconstruct", self.reconstruct), ("--interpolate", self.interpolate),
                                       ("--traverse", self.traverse)) if on]
        if len(modes) > 1:
            raise ConfigError(f"{' and '.join(modes)} draw different grids; pass one")
        if self.image_size is not None and not self.reconstruct:
            raise ConfigError("--image-size sets the size --reconstruct reads images at; pass --reconstruct")


def sample_parser() -> argparse.ArgumentParser:
    return options_parser(SampleOptions, "vaegan-sample", __doc__.splitlines()[0],
                          formatter_class=argparse.RawDescriptionHelpFormatter,
                          epilog="\n".join(__doc__.splitlines()[2:]))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args, _ = parse_options(SampleOptions, sample_parser(), argv)

    def go() -> int:
        from ..sample import run

        out = run(args)
        print(f"wrote {out}" + (f" and {args.npy}" if args.npy else ""))
        return 0

    return run_cli(go)


if __name__ == "__main__":
    raise SystemExit(main())
