"""Images larger than a model's training size, encoded and decoded in tiles: the seam error and the
memory, side by side with the whole-image pass.

    python bench/tiling.py --checkpoint runs/.../best.pt --images data/twemoji/test --sizes 256 1024

Each size is a mosaic of the folder's images at the model's size (the content a model of that size
knows), reconstructed by `vaegan.load(...).reconstruct`, which tiles it (diffusers' AutoencoderKL
tiling, tiles of the training size), and, up to --whole-up-to px, by the model's own pass over the
whole image. Prints per size: PSNR of each against the mosaic, the largest and mean absolute
difference between the two (the seam error), and the peak resident memory of a fresh process doing
only that (so the numbers do not mix). The whole pass at 1024 px would hold the mid-block's attention
over 65,536 positions (a 17 GB matrix in fp32): it is not run above --whole-up-to.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def mosaic(folder: str, size: int, tile: int, channels: int):
    import torch

    from vaegan.sample import image_files, read_images

    files = image_files([folder])
    per_side = size // tile
    images = read_images(files[:per_side * per_side], channels, tile)
    images = torch.cat([images, images])[:per_side * per_side]  # a small folder repeats
    rows = [torch.cat(list(images[r * per_side:(r + 1) * per_side]), dim=2) for r in range(per_side)]
    return torch.cat(rows, dim=1)[None]


def one(args: argparse.Namespace) -> None:
    """In a fresh process: reconstruct the mosaic one way, print JSON with the peak memory."""
    import torch

    import vaegan

    torch.set_num_threads(args.threads)
    model = vaegan.load(args.checkpoint, device="cpu")
    x = mosaic(args.images, args.size, model.config.image_size, model.config.image_channels)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with torch.no_grad():
        recon = model.reconstruct(x) if args.way == "tiled" else model.vae.decode_images(model.vae.encode(x)[0])
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    torch.save({"x": x, "recon": recon}, args.save)
    print(json.dumps({"seconds": seconds, "peak_gib": peak / 2**20, "added_gib": (peak - before) / 2**20}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--images", required=True, help="a folder of images (e.g. data/twemoji/test)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--whole-up-to", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--way", choices=("tiled", "whole"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.way:
        return one(args)

    import torch

    print("| size | way | PSNR vs mosaic (dB) | seconds | peak RSS (GiB) | max / mean abs diff to whole |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        results = {}
        for way in ("tiled", "whole") if size <= args.whole_up_to else ("tiled",):
            save = f"/tmp/tiling-{size}-{way}.pt"
            out = subprocess.run([sys.executable, __file__, "--checkpoint", args.checkpoint, "--images", args.images,
                                  "--way", way, "--size", str(size), "--save", save, "--threads", str(args.threads)],
                                 capture_output=True, text=True, check=True)
            results[way] = {**json.loads(out.stdout.strip().splitlines()[-1]), **torch.load(save)}
        for way, r in results.items():
            psnr = -10 * torch.log10((r["recon"] - r["x"]).pow(2).mean()).item()
            diff = "—"
            if way == "tiled" and "whole" in results:
                d = (r["recon"] - results["whole"]["recon"]).abs()
                diff = f"{d.max().item():.4f} / {d.mean().item():.5f}"
            print(f"| {size} | {way} | {psnr:.2f} | {r['seconds']:.1f} | {r['peak_gib']:.2f} | {diff} |")


if __name__ == "__main__":
    main()
