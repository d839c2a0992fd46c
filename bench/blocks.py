"""The U-Net on diffusers' blocks against the hand-written one: the table of `bench/blocks.sh`'s rows
(test-split MSE, PSNR, SSIM, domain FD of reconstructions of each row's best.pt, by eval.py) and the
training step of each row timed side by side in this process (`Trainer.train_step` with the GAN on,
the recipe's batch of 128, rows interleaved --rounds times; median images/s and the spread).

    python bench/blocks.py [--root runs/blocks] [--steps 10] [--rounds 3] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch
import yaml
from train_speed import vaegan_images_per_s, vaegan_trainer

ROWS = {
    "handwritten": {"blocks": "vaegan", "recon_loss": "bce"},
    "diffusers-sigmoid": {"blocks": "diffusers", "decoder_output": "sigmoid", "recon_loss": "bce"},
    "diffusers": {"blocks": "diffusers", "decoder_output": "linear", "recon_loss": "mse"},
    "diffusers-l1": {"blocks": "diffusers", "decoder_output": "linear", "recon_loss": "l1"},
}
RECIPE = Path(__file__).parents[1] / "configs" / "unet_spatial_vaegan.yaml"
METRICS = ("test/mse", "test/psnr", "test/ssim", "test/domain_fd_recon")


def table(root: Path) -> None:
    print(f"| row | params | best.pt epoch | {' | '.join(METRICS)} |")
    print("|---|---|---|" + "---|" * len(METRICS))
    for row in ROWS:
        result = root / row / "eval.json"
        if not result.is_file():
            print(f"| {row} | (not run: bash bench/blocks.sh {row}) |")
            continue
        metrics = json.loads(result.read_text())
        best = torch.load(root / row / "checkpoints" / "best.pt", weights_only=True)
        params = sum(v.numel() for v in best["model"].values())
        print(f"| {row} | {params / 1e6:.2f} M | {best['epoch']} | "
              + " | ".join(f"{metrics[k]:.4g}" for k in METRICS) + " |")


def step_speed(data_dir: Path, steps: int, rounds: int) -> None:
    recipe = yaml.safe_load(RECIPE.read_text())
    with tempfile.TemporaryDirectory() as scratch:
        trainers = {row: vaegan_trainer({**recipe, **flags, "perceptual_weight": 0.0, "disc_start": 0,
                                         "limit_train": 128 * (steps + 2), "val_images": 0},
                                        data_dir, 128, Path(scratch))
                    for row, flags in ROWS.items()}
        speeds: dict[str, list[float]] = {row: [] for row in ROWS}
        for _ in range(rounds):
            for row, trainer in trainers.items():
                speeds[row].append(vaegan_images_per_s(trainer, steps, warmup=2))
    base = statistics.median(speeds["handwritten"])
    print(f"\ntraining step, batch 128, GAN on, no LPIPS, {torch.get_num_threads()} threads:")
    for row, values in speeds.items():
        median = statistics.median(values)
        print(f"  {row:<18} {median:7.1f} images/s ({min(values):.1f}-{max(values):.1f}), "
              f"{128 / median:.2f} s/step, {median / base:.2f}x the hand-written")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="runs/blocks")
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    table(Path(args.root))
    step_speed(Path(args.data_dir), args.steps, args.rounds)


if __name__ == "__main__":
    main()
