"""Writing GIFs the way viewers expect: durations in milliseconds, looping forever, atomically."""
from __future__ import annotations

import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np

FRAME_MS = 500  # 2 frames per second: one epoch is easy to follow
LAST_FRAME_MS = 2000  # hold the final epoch before the loop restarts


def write_gif(path: Path, frames: list[np.ndarray]) -> None:
    # pillow takes a list only for several frames
    durations = [FRAME_MS] * (len(frames) - 1) + [LAST_FRAME_MS] if len(frames) > 1 else FRAME_MS
    tmp = path.with_name(path.name + ".tmp.gif")
    # pillow's GIF writer takes `duration` in milliseconds; loop=0 means forever.
    iio.imwrite(tmp, np.stack(frames), plugin="pillow", duration=durations, loop=0)
    os.replace(tmp, path)


def write_png(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.png")
    iio.imwrite(tmp, array, plugin="pillow", extension=".png")
    os.replace(tmp, path)


def read_png(path: Path) -> np.ndarray:
    return iio.imread(path, plugin="pillow")
