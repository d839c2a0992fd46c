"""Cost of a training step per image size: images/s of `Trainer.train_step` (VAE + LPIPS + PatchGAN,
all terms on) and the peak memory of the process at each recipe's batch size, one fresh process per
size so each peak is its own.

    python bench/image_sizes.py --data-dir data/clipart256 [--sizes 64 128 256] [--steps 3] [--threads 1]

Rows: 64 px with configs/unet_spatial_rgb64.yaml, 128 and 256 px with configs/unet_spatial_rgb256.yaml
(each at its own batch size; --batch-size overrides), on an RGB image folder of at least the largest
size (bench/colour_data.py writes one). LPIPS runs on an untrained VGG16 (`--lpips-backbone random`:
the pretrained weights need a download) — the same FLOPs and memory as the pretrained one.
Peak memory: the process's maximum resident set on CPU (model, optimizer state, data and activations
together), torch.cuda.max_memory_allocated on a GPU.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

RECIPES = {64: "configs/unet_spatial_rgb64.yaml", 128: "configs/unet_spatial_rgb256.yaml",
           256: "configs/unet_spatial_rgb256.yaml"}


def measure(size: int, data_dir: str, steps: int, batch_size: int | None, threads: int) -> dict:
    """One size in this process: build the trainer, 1 warm-up step, `steps` timed ones."""
    from vaegan.config import build_config, load_yaml
    from vaegan.trainer import Trainer

    if threads:
        torch.set_num_threads(threads)
    overrides = {**load_yaml(RECIPES[size]), "dataset": "folder", "data_dir": data_dir, "image_size": size,
                 "lpips_backbone": "random", "disc_start": 0, "wandb": "disabled", "visuals": False,
                 "val_images": 0}
    if batch_size:
        overrides["batch_size"] = batch_size
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(build_config({**overrides, "out": str(Path(tmp) / "run")}))
        batch = trainer.cfg.batch_size
        x = trainer.train_data.get(torch.arange(batch))
        trainer.train_step(x, batch)
        start = time.perf_counter()
        for _ in range(steps):
            trainer.train_step(x, batch)
        seconds = (time.perf_counter() - start) / steps
    cuda = trainer.device.type == "cuda"
    peak = torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"size": size, "batch": batch, "downsample": trainer.cfg.downsample,
            "channels": trainer.cfg.channels, "images_per_s": batch / seconds, "s_per_step": seconds,
            "peak_gib": peak / 2 ** 30, "memory": "cuda allocated" if cuda else "process RSS"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", required=True, help="an RGB image folder with images of at least the largest size")
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256], choices=sorted(RECIPES))
    p.add_argument("--steps", type=int, default=3, help="timed steps per size (after one warm-up)")
    p.add_argument("--batch-size", type=int, help="instead of each recipe's")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process: measure this size
    args = p.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.data_dir, args.steps, args.batch_size, args.threads)))
        return
    from train_speed import hardware  # sibling script: bench/ is on sys.path

    if args.threads:
        torch.set_num_threads(args.threads)  # as each child does: the header names the threads they ran

    print(f"device: {hardware('cuda' if torch.cuda.is_available() else 'cpu')}, {args.steps} timed steps")
    print(f"{'size':>5} {'batch':>5} {'f':>3} {'channels':<24} {'img/s':>7} {'s/step':>7} {'peak GiB':>9}")
    for size in args.sizes:
        cmd = [sys.executable, __file__, "--one", str(size), "--data-dir", args.data_dir, "--steps", str(args.steps),
               "--threads", str(args.threads)] + (["--batch-size", str(args.batch_size)] if args.batch_size else [])
        row = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        f = row["downsample"] or size // 2 ** (len(row["channels"]) - 1)
        print(f"{size:>5} {row['batch']:>5} {f:>3} {' '.join(map(str, row['channels'])):<24} "
              f"{row['images_per_s']:>7.2f} {row['s_per_step']:>7.2f} {row['peak_gib']:>9.2f}  ({row['memory']})")


if __name__ == "__main__":
    main()
