"""Print the fidelity benchmark table from runs/fidelity/<row>/eval-gmm<K>.json (bench/fidelity.sh),
and with --figure draw each row's samples from N(0, I) and from the fitted mixture.

    python bench/fidelity.py [--root runs/fidelity] [--components 10] [--figure assets/fidelity.png]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from vaegan.visuals.draw import image_grid, tile_px, with_caption, write_png

SHOWN = 20  # samples per row of the figure

COLUMNS = [  # (header, key, format)
    ("MSE ↓", "test/mse", "{:.4f}"),
    ("PSNR ↑", "test/psnr", "{:.2f}"),
    ("SSIM ↑", "test/ssim", "{:.3f}"),
    ("−ELBO ↓", "test/neg_elbo", "{:.1f}"),
    ("FD recon ↓", "test/domain_fd_recon", "{:.2f}"),
    ("FD samples N(0,I) ↓", "test/domain_fd_samples", "{:.2f}"),
    ("FD samples GMM ↓", "test/domain_fd_samples_gmm", "{:.2f}"),
    ("recon class acc ↑", "test/recon_class_acc", "{:.3f}"),
    ("class entropy N(0,I) ↑", "test/sample_class_entropy", "{:.3f}"),
    ("class entropy GMM ↑", "test/sample_class_entropy_gmm", "{:.3f}"),
]


def figure(root: Path, rows: list[str], components: int, path: Path) -> None:
    """Two lines per row: samples from N(0, I), then from the mixture (the same seed)."""
    images, labels = [], []
    for row in rows:
        for prior, name in (("gaussian", "N(0, I)"), (f"gmm{components}", f"GMM {components}")):
            file = root / row / f"samples-{prior}.npy"
            if file.is_file():
                images.append(torch.from_numpy(np.load(file)[:SHOWN, None]))
                labels.append(f"{row}, {name}")
    row_height = tile_px(28)
    array = with_caption(image_grid(torch.cat(images), nrow=SHOWN),
                         "Fashion-MNIST, latent 16: prior samples per benchmark row",
                         [(i * row_height + row_height // 3, label) for i, label in enumerate(labels)], margin=220)
    write_png(path, array)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default="runs/fidelity")
    p.add_argument("--components", type=int, default=10, help="which mixture size's eval file to read")
    p.add_argument("--rows", nargs="+", help="rows in this order (default: every row found)")
    p.add_argument("--figure", type=Path, help="also draw the rows' prior samples here")
    args = p.parse_args()
    root = Path(args.root)
    rows = args.rows or sorted(d.name for d in root.iterdir() if d.is_dir())
    print("| row | " + " | ".join(h for h, _, _ in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for row in rows:
        path = root / row / f"eval-gmm{args.components}.json"
        if not path.is_file():
            continue
        metrics = json.loads(path.read_text())
        cells = [fmt.format(metrics[key]) if key in metrics else "—" for _, key, fmt in COLUMNS]
        print(f"| {row} | " + " | ".join(cells) + " |")
    if args.figure:
        figure(root, rows, args.components, args.figure)


if __name__ == "__main__":
    main()
