"""`vaegan-export --checkpoint … --out DIR`: a trained model as weights only, loadable without pickle.

--format safetensors (default): DIR gets `model.safetensors` (the EMA weights when the run kept
them), `config.json`, when the run fitted one `prior.safetensors` (the Gaussian mixture prior), and
when vaegan-prior trained one for this checkpoint `diffusion.safetensors` (the diffusion prior).
`vaegan.load(DIR)` and `vaegan-sample DIR` read it back.

--format diffusers (a spatial latent on diffusers' blocks with a linear decoder): DIR/vae/ is a
diffusers AutoencoderKL whose config carries the latents' scale; with a diffusion prior DIR is also
a `vaegan.LatentPriorPipeline` (DIR/unet/, DIR/scheduler/, model_index.json). docs/diffusers.md.

`--push-to-hub REPO` uploads the folder with `huggingface_hub` (an optional dependency).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..options import REQUIRED, opt, options_parser, parse_options
from .common import run_cli

WHAT, SCALE = "What to export, and where", "--format diffusers without a diffusion prior"


@dataclass
class ExportOptions:
    """vaegan-export's flags (vaegan.options)."""
    checkpoint: str = opt(REQUIRED, "a vaegan checkpoint (last.pt / best.pt)", group=WHAT)
    out: str = opt(REQUIRED, "folder to write the export to", group=WHAT)
    format: str = opt("safetensors", "safetensors: model.safetensors, config.json and the priors, for vaegan.load; "
                                     "diffusers: an AutoencoderKL in OUT/vae (and a LatentPriorPipeline with a "
                                     "diffusion prior)", choices=("safetensors", "diffusers"), group=WHAT)
    push_to_hub: Optional[str] = opt(None, "also upload the folder to this Hugging Face Hub repo", metavar="REPO",
                                     group=WHAT)
    data_dir: Optional[str] = opt(None, "where the model's training images are now, to measure the latents' scale "
                                        "(default: as in training)", group=SCALE)
    scale_images: int = opt(2000, "training images, drawn at random, whose latents give the latent scale",
                            minimum=1, metavar="N", group=SCALE)


def export_parser() -> argparse.ArgumentParser:
    return options_parser(ExportOptions, "vaegan-export", __doc__.splitlines()[0])


def main(argv: Optional[Sequence[str]] = None) -> int:
    args, _ = parse_options(ExportOptions, export_parser(), argv)

    def go() -> int:
        from ..export import export, export_diffusers, push_to_hub

        written = (export(args.checkpoint, args.out) if args.format == "safetensors" else
                   export_diffusers(args.checkpoint, args.out, args.data_dir, args.scale_images))
        for path in written:
            print(f"wrote {path}")
        if args.push_to_hub:
            print(f"pushed to {push_to_hub(Path(args.out), args.push_to_hub)}")
        return 0

    return run_cli(go)


if __name__ == "__main__":
    raise SystemExit(main())
