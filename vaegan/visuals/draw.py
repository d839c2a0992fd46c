"""Everything that turns arrays into pictures and files: GIFs and PNGs written the way viewers
expect (durations in milliseconds, looping forever, atomically), image grids and captioned frames
of one fixed size, the latent scatter, the loss / metric curves, and the end-of-run figures
(interpolations between test images, the decoded 2-d manifold)."""
from __future__ import annotations

import math
from pathlib import Path

import imageio.v3 as iio
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from ..checkpoint import atomic_write  # noqa: E402
from ..models import VAE, evaluating, lerp_latents  # noqa: E402
from ..tracked import CURVES  # noqa: E402

# ---------------------------------------------------------------- files
FRAME_MS = 500  # 2 frames per second: one epoch is easy to follow
LAST_FRAME_MS = 2000  # hold the final epoch before the loop restarts


def write_gif(path: Path, frames: list[np.ndarray]) -> None:
    # pillow takes a list only for several frames
    durations = [FRAME_MS] * (len(frames) - 1) + [LAST_FRAME_MS] if len(frames) > 1 else FRAME_MS
    # pillow's GIF writer takes `duration` in milliseconds; loop=0 means forever.
    atomic_write(path, lambda f: iio.imwrite(f, np.stack(frames), plugin="pillow", extension=".gif",
                                             duration=durations, loop=0))


def write_png(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda f: iio.imwrite(f, array, plugin="pillow", extension=".png"))


def read_png(path: Path) -> np.ndarray:
    return iio.imread(path, plugin="pillow")


# ---------------------------------------------------------------- frames
TILE_PX = 84  # small images are upscaled (nearest) to about this size: 28 px digits at 3x
MAX_TILE_PX = 128  # larger ones are shown downscaled to this: a 10-wide grid of 256 px images is 1,300 px


def scale_for(size: int) -> int:
    return max(1, round(TILE_PX / size))


def tile_px(size: int) -> int:
    """Height of one tile row of `image_grid` for images of `size` px, padding included."""
    return MAX_TILE_PX + 2 if size > MAX_TILE_PX else (size + 2) * scale_for(size)


def figure_to_array(fig) -> np.ndarray:
    fig.canvas.draw()
    array = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return array


def latent_scatter(points: np.ndarray, labels: np.ndarray, class_names: list[str], limit: float,
                   title: str, axis_names: tuple[str, str]) -> np.ndarray:
    fig, ax = plt.subplots(figsize=(6.4, 5.2), dpi=80)
    cmap = plt.get_cmap("tab10")
    for c, name in enumerate(class_names):
        sel = labels == c
        ax.scatter(points[sel, 0], points[sel, 1], s=4, color=cmap(c % 10), label=name, alpha=0.7,
                   linewidths=0)
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=3, fontsize=8, frameon=False)
    fig.subplots_adjust(left=0.12, right=0.76, bottom=0.1, top=0.92)
    return figure_to_array(fig)


def image_grid(images: torch.Tensor, nrow: int) -> np.ndarray:
    """[N, 1 or 3, H, W] in [0, 1] -> uint8 RGB grid; images under TILE_PX are upscaled to be seen,
    images over MAX_TILE_PX downscaled (antialiased) so that grids and GIFs stay a sane size."""
    images = images.float().clamp(0, 1).cpu()
    if images.shape[-1] > MAX_TILE_PX:
        images = torch.nn.functional.interpolate(images, size=(MAX_TILE_PX, MAX_TILE_PX), mode="bilinear",
                                                 antialias=True).clamp(0, 1)
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=1.0)
    scale = scale_for(images.shape[-1])
    if scale > 1:
        grid = torch.nn.functional.interpolate(grid[None], scale_factor=scale, mode="nearest")[0]
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def with_caption(array: np.ndarray, caption: str, row_labels: list[tuple[int, str]] = (),
                 margin: int = 90) -> np.ndarray:
    """Add a caption band on top; `row_labels` are (y, text) drawn in a left margin."""
    margin = margin if row_labels else 0
    band = 30
    canvas = Image.new("RGB", (array.shape[1] + margin, array.shape[0] + band), "white")
    canvas.paste(Image.fromarray(array), (margin, band))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=18)
    draw.text((margin + 6, 5), caption, fill="black", font=font)
    for y, text in row_labels:
        draw.text((6, band + y), text, fill="black", font=ImageFont.load_default(size=14))
    return np.asarray(canvas)


# ---------------------------------------------------------------- curves
SKIP_TERMS = {"kl_weight"}
METRICS = tuple(k.split("/", 1)[1] for k in CURVES)


def _panel_grid(names: list[str]):
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), dpi=80, squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    return fig, list(axes.flat)


def _plot(records: list[dict], names: list[str], series: list[tuple[str, str]], path: Path) -> None:
    """series: (key prefix, legend label); one panel per name."""
    fig, axes = _panel_grid(names)
    for ax, name in zip(axes, names):
        for prefix, label in series:
            points = [(r["epoch"], r[f"{prefix}/{name}"]) for r in records if f"{prefix}/{name}" in r]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    fig.tight_layout()
    write_png(path, figure_to_array(fig))


def plot_losses(records: list[dict], path: Path) -> None:
    names = sorted({k.split("/", 1)[1] for r in records for k in r if k.startswith("train/")} - SKIP_TERMS)
    if names:
        _plot(records, names, [("train", "train (epoch mean)"), ("test", "test")], path)


def plot_metrics(records: list[dict], path: Path) -> None:
    names = [m for m in METRICS if any(f"test/{m}" in r for r in records)]
    if names:
        _plot(records, names, [("train_eval", "train"), ("test", "test")], path)


# ---------------------------------------------------------------- end-of-run figures
STEPS = 10


@torch.no_grad()
def interpolation_strip(model: VAE, images: torch.Tensor, path: Path, tag: str) -> None:
    """Rows of STEPS decodes on the straight line between the posterior means of image pairs
    (consecutive classes: 0->1, 2->3, ...); the end points are the originals' reconstructions."""
    with evaluating(model):
        mu = model.encode(images)[0].float()
        pairs = [(i, i + 1) for i in range(0, len(images) - 1, 2)]
        rows = [model.decode_images(lerp_latents(mu[a], mu[b], STEPS)) for a, b in pairs]
    write_png(path, with_caption(image_grid(torch.cat(rows), nrow=STEPS), f"{tag} · interpolations"))


@torch.no_grad()
def manifold_grid(model: VAE, path: Path, tag: str, n: int = 15) -> None:
    """Decodes of a grid of 2-d latents placed at evenly spaced quantiles of the N(0, 1) prior."""
    device = next(model.parameters()).device
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.03, 0.97, n))
    z = torch.stack(torch.meshgrid(q, q.flip(0), indexing="xy"), dim=-1).reshape(-1, 2).to(device)
    with evaluating(model):
        images = model.decode_images(z)
    write_png(path, with_caption(image_grid(images, nrow=n), f"{tag} · decoded 2-d manifold"))
