"""The TensorBoard side of the logger (`--tensorboard`): event files in <out>/tensorboard/, with
the keys of metrics.jsonl / steps.jsonl as scalar tags and the per-epoch frames as images."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .config import ConfigError


class TensorBoardSink:
    def __init__(self, log_dir: Path, purge_step: int | None = None):
        """purge_step: on resume, events at or after it (from the crashed attempt) are dropped."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
        self.writer = SummaryWriter(str(log_dir), purge_step=purge_step)

    def log_metrics(self, metrics: dict, step: int) -> None:
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
                    and key not in ("epoch", "step"):
                self.writer.add_scalar(key, value, step)
        if "epoch" in metrics:
            self.writer.add_scalar("epoch", metrics["epoch"], step)

    def log_media(self, media: dict[str, Path], step: int) -> None:
        from PIL import Image

        for key, path in media.items():
            if Path(path).suffix == ".png" and Path(path).is_file():
                with Image.open(path) as image:
                    self.writer.add_image(key, np.asarray(image.convert("RGB")), step, dataformats="HWC")

    def set_summary(self, values: dict) -> None:
        shown = {k: v for k, v in values.items() if isinstance(v, (int, float, str))}
        self.writer.add_text("summary", "```\n" + json.dumps(shown, indent=1) + "\n```")

    def log_checkpoints(self, paths: list[Path], name: str) -> None:
        """TensorBoard keeps no files; the checkpoints stay in <out>/checkpoints."""

    def close(self) -> None:
        self.writer.close()
