"""Print the baselines table of docs/results.md from runs/table/<row>/{eval,iw}.json (see bench/results_table.sh),
and with --figure draw the first test images with every row's reconstructions and prior samples.

    python bench/results_table.py [--root runs/table] [--figure assets/results.png]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from vaegan.checkpoint import load_checkpoint
from vaegan.config import Config, load_yaml
from vaegan.data import load_split, resolve_data_dir
from vaegan.visuals.draw import image_grid, tile_px, with_caption, write_png

SHOWN = 10  # test images / prior samples per row of the figure

COLUMNS = [  # (header, file, key, format)
    ("MSE ↓", "eval", "test/mse", "{:.4f}"),
    ("PSNR ↑", "eval", "test/psnr", "{:.2f}"),
    ("SSIM ↑", "eval", "test/ssim", "{:.3f}"),
    ("−ELBO ↓", "eval", "test/neg_elbo", "{:.1f}"),
    ("NLL IW ↓", "iw", "test/nll_iw", "{:.1f}"),
    ("domain FD recon ↓", "eval", "test/domain_fd_recon", "{:.2f}"),
    ("domain FD samples ↓", "eval", "test/domain_fd_samples", "{:.2f}"),
    ("recon class acc ↑", "eval", "test/recon_class_acc", "{:.3f}"),
]


def describe(run: Path) -> tuple[str, str, str]:
    """(model, latent, training budget) from the run's checkpoint."""
    saved = load_checkpoint(run / "checkpoints" / "last.pt")
    cfg = saved["config"]
    params = sum(v.numel() for v in saved["model"].values() if torch.is_floating_point(v))
    name = {"mlp": f"MLP {cfg['hidden']} ({cfg['optimizer']})", "conv": "conv VAE",
            "unet": "U-Net VAE-GAN" if cfg["use_gan"] else "U-Net VAE"}[cfg["arch"]]
    latent = f"{cfg['latent']}×7×7" if cfg.get("latent_shape") == "spatial" else str(cfg["latent"])
    # Steps, not minutes: the rows were trained while others shared the CPU.
    budget = f"{saved['epoch']} × {saved['step'] // saved['epoch']} steps of {cfg['batch_size']}, {params / 1e6:.2f} M"
    return name, latent, budget


def trained_runs(root: Path) -> list[Path]:
    """Evaluated runs: baselines first, then the U-Net rows by latent size."""
    def key(run: Path) -> tuple:
        cfg = load_yaml(run / "config.yaml")
        return cfg["arch"] == "unet", cfg["latent_shape"] == "spatial", cfg["latent"], run.name

    return sorted((p.parent for p in root.glob("*/eval.json")), key=key)


def figure(runs: list[Path], path: Path) -> None:
    """Rows: the first test images, then each run's reconstructions; then each run's prior samples."""
    test = load_split(resolve_data_dir(Config(dataset="fashion-mnist")), "test", SHOWN).images
    rows, labels = [test], ["test images"]
    for kind in ("recon", "samples"):
        for run in runs:
            if (run / f"{kind}.npy").exists():
                rows.append(torch.from_numpy(np.load(run / f"{kind}.npy")[:SHOWN, None]))
                labels.append(f"{run.name} {kind}")
    grid = image_grid(torch.cat(rows), nrow=SHOWN)
    row_height = tile_px(28)
    array = with_caption(grid, "Fashion-MNIST test images, reconstructions (posterior mean), prior samples",
                         [(i * row_height + row_height // 3, label) for i, label in enumerate(labels)], margin=260)
    write_png(path, array)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="runs/table", type=Path)
    p.add_argument("--figure", type=Path, help="also write the reconstruction / sample figure here")
    args = p.parse_args()
    print("| row | model | latent | epochs × steps of batch, params | " + " | ".join(c[0] for c in COLUMNS) + " |")
    print("|---" * (4 + len(COLUMNS)) + "|")
    runs = trained_runs(args.root)
    for run in runs:
        files = {f: json.loads((run / f"{f}.json").read_text()) for f in ("eval", "iw") if (run / f"{f}.json").exists()}
        cells = [fmt.format(files[f][k]) if k in files.get(f, {}) else "–" for _, f, k, fmt in COLUMNS]
        print(f"| {run.name} | " + " | ".join(describe(run)) + " | " + " | ".join(cells) + " |")
    if args.figure:
        figure(runs, args.figure)


if __name__ == "__main__":
    main()
