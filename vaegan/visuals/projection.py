"""2-d views of latents whose axes do not jump between epochs.

A 2-d vector latent is shown as it is. Larger latents are projected on their top-2 principal
components, then rotated/reflected (orthogonal Procrustes) onto the previous epoch's points for
the same images, so consecutive frames differ only by how the latents really moved.
"""
from __future__ import annotations

from typing import Optional

import numpy as np


def pca_2d(latents: np.ndarray) -> np.ndarray:
    """Top-2 principal-component scores; each axis's sign fixed by its largest loading."""
    flat = latents.reshape(len(latents), -1).astype(np.float64)
    if flat.shape[1] == 1:
        return np.concatenate([flat, np.zeros_like(flat)], axis=1)
    centred = flat - flat.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    axes *= np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])[:, None]
    return centred @ axes.T


def align(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The orthogonal transform of `points` (about their mean) closest to `reference`."""
    centred = points - points.mean(axis=0)
    u, _, vt = np.linalg.svd(centred.T @ (reference - reference.mean(axis=0)))
    return centred @ (u @ vt)


def project(latents: np.ndarray, previous: Optional[np.ndarray] = None) -> np.ndarray:
    flat = latents.reshape(len(latents), -1)
    if flat.shape[1] == 2:
        return flat.astype(np.float64)
    points = pca_2d(flat)
    return points if previous is None else align(points, previous)


def nice_limit(points_per_frame: list[np.ndarray]) -> float:
    """One symmetric axis limit for every frame: the 99.5th percentile of |coordinate| over all
    frames, rounded up to a step of a fine 1-10 ladder so it changes rarely as epochs are added
    without wasting the plot (5.5 becomes 6, not 10)."""
    extent = max(float(np.percentile(np.abs(p), 99.5)) for p in points_per_frame)
    extent = max(extent, 1e-3) * 1.05
    scale = 10 ** np.floor(np.log10(extent))
    for step in (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * scale >= extent:
            return float(step * scale)
    return float(10 * scale)
