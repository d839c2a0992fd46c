"""Writing GIFs the way viewers expect: durations in milliseconds, looping forever, atomically."""
from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np

from ..checkpoint import atomic_write

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
