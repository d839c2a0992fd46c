"""Does bf16 autocast change what training reaches? Trains the same short U-Net VAE run in fp32 and
in bf16 for two seeds each and prints the test metrics side by side: the fp32-vs-bf16 gap should
be no larger than the seed-to-seed gap.

    python bench/precision_check.py [--limit-train 3000] [--epochs 2]
"""
from __future__ import annotations

import argparse
import tempfile

from vaegan.config import build_config
from vaegan.tracked import CURVES
from vaegan.trainer import Trainer

KEYS = CURVES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--limit-train", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for precision in ("fp32", "bf16"):
            for seed in (0, 1):
                cfg = build_config({"dataset": "fashion-mnist", "data_dir": args.data_dir, "latent": 16,
                                    "perceptual_weight": 0.0, "limit_train": args.limit_train,
                                    "limit_test": 1000, "epochs": args.epochs, "precision": precision,
                                    "seed": seed, "wandb": "disabled", "visuals": False,
                                    "eval_train_images": 0, "out": f"{tmp}/{precision}-{seed}"})
                results[precision, seed] = Trainer(cfg).fit()
    print(f"\nU-Net VAE, latent 16, {args.limit_train} Fashion-MNIST images, {args.epochs} epochs, "
          f"1000 test images")
    print(f"{'metric':<15}" + "".join(f"{p} s{s}".rjust(12) for p, s in results) +
          "   |fp32-bf16|  |seed0-seed1|")
    for key in KEYS:
        values = {k: r[key] for k, r in results.items()}
        precision_gap = abs(values["fp32", 0] - values["bf16", 0]) + abs(values["fp32", 1] - values["bf16", 1])
        seed_gap = abs(values["fp32", 0] - values["fp32", 1]) + abs(values["bf16", 0] - values["bf16", 1])
        print(f"{key:<15}" + "".join(f"{v:12.4f}" for v in values.values()) +
              f"   {precision_gap / 2:11.4f}  {seed_gap / 2:12.4f}")


if __name__ == "__main__":
    main()
