"""Where reconstructions err, by kind of pixel: the test images' pixels split into white background
(every channel above 0.97), saturated channels of other pixels (below 0.03 or above 0.97) and
mid-tones, with each model's MSE on each, and the share of a linear decoder's raw outputs outside [0, 1].

    python bench/pixel_error.py runs/decoder-output/*/checkpoints/best.pt
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

import vaegan
from vaegan.checkpoint import load_checkpoint, saved_config
from vaegan.config import build_config
from vaegan.data import load_data


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+")
    args = p.parse_args()
    print(f"{'model':<50} {'white':>6} {'sat':>6} {'mid':>6} | {'MSE white':>10} {'sat':>9} {'mid':>9} | out of [0, 1]")
    for checkpoint in args.checkpoints:
        model = vaegan.load(checkpoint, "cpu")
        cfg = build_config({**saved_config(load_checkpoint(Path(checkpoint))["config"]), "device": "cpu",
                            "resume": "no"})
        x = torch.cat(list(load_data(cfg).test.in_order(120)))
        with torch.no_grad():
            raw = torch.cat([model.vae.decode(model.encode(c)).float() for c in x.split(60)])
        images = (raw + 1) / 2 if model.vae.linear_output else torch.sigmoid(raw)
        outside = ((images < 0) | (images > 1)).float().mean().item()
        err = (images.clamp(0, 1) - x).pow(2)
        white = (x.min(1, keepdim=True).values > 0.97).expand_as(x)
        saturated = ((x < 0.03) | (x > 0.97)) & ~white
        mid = ~white & ~saturated
        shares = [m.float().mean().item() for m in (white, saturated, mid)]
        errors = [err[m].mean().item() for m in (white, saturated, mid)]
        print(f"{checkpoint:<50} {shares[0]:>6.2f} {shares[1]:>6.2f} {shares[2]:>6.2f} | {errors[0]:>10.6f} "
              f"{errors[1]:>9.6f} {errors[2]:>9.6f} | {outside:.3f}")


if __name__ == "__main__":
    main()
