"""Curves of every loss term and pixel metric over epochs, train beside test."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..tracked import CURVES  # noqa: E402
from .gif import write_png  # noqa: E402
from .render import figure_to_array  # noqa: E402

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
