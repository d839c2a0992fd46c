"""Frames as uint8 RGB arrays of fixed size, so every GIF frame has the same shape."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

TILE_PX = 84  # small images are upscaled (nearest) to about this size: 28 px digits at 3x


def scale_for(size: int) -> int:
    return max(1, round(TILE_PX / size))


def tile_px(size: int) -> int:
    """Height of one tile row of `image_grid` for images of `size` px, padding included."""
    return (size + 2) * scale_for(size)


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
    """[N, 1 or 3, H, W] in [0, 1] -> uint8 RGB grid; images under TILE_PX are upscaled to be seen."""
    grid = make_grid(images.float().clamp(0, 1).cpu(), nrow=nrow, padding=2, pad_value=1.0)
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
