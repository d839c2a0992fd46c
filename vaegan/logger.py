"""One logger that fans out to the console, the run folder (log.txt, metrics.jsonl per epoch,
steps.jsonl per logged step) and sinks (W&B, TensorBoard), with the same key names everywhere."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Protocol

from tqdm.auto import tqdm

from .checkpoint import atomic_write
from .tracked import FIDELITY_METRICS


class Sink(Protocol):
    def log_metrics(self, metrics: dict, step: int) -> None: ...
    def log_media(self, media: dict[str, Path], step: int) -> None: ...
    def set_summary(self, values: dict) -> None: ...
    def log_checkpoints(self, paths: list[Path], name: str) -> None: ...
    def close(self) -> None: ...


def _fmt(v: float) -> str:
    return f"{v:.4g}" if isinstance(v, float) and math.isfinite(v) else str(v)


LOG_EVERY = 25  # steps between host syncs for the progress bar and step-level logs
TRAINING_CONSOLE_KEYS = ("train/loss", "val/mse", *FIDELITY_METRICS,
                         *(f"test/{m}" for m in ("mse", "psnr", "ssim", "neg_elbo", "lpips")))


class RunLogger:
    def __init__(self, run_dir: Path, sinks: list[Sink] | None = None, write: bool = True,
                 console_keys: tuple[str, ...] = TRAINING_CONSOLE_KEYS):
        """write=False (DDP ranks other than 0): print nothing, write nothing. console_keys: what the
        one line per epoch shows (every key stays in metrics.jsonl and the sinks)."""
        self.write, self.console_keys = write, console_keys
        self.run_dir = run_dir
        self.metrics_path = run_dir / "metrics.jsonl"
        self.steps_path = run_dir / "steps.jsonl"
        self.sinks = sinks or []

    def info(self, message: str) -> None:
        if not self.write:
            return
        tqdm.write(message)
        with open(self.run_dir / "log.txt", "a") as f:
            f.write(message + "\n")

    def log_step(self, metrics: dict, step: int) -> None:
        """Step-level scalars: a line of steps.jsonl (not fsynced: they are many and a crash costs
        at most the last few), then the sinks."""
        if self.write:
            with open(self.steps_path, "a") as f:
                f.write(json.dumps({"step": step, **metrics}) + "\n")
        self._to_sinks(metrics, step)

    def _to_sinks(self, metrics: dict, step: int) -> None:
        for sink in self.sinks:
            sink.log_metrics(metrics, step)

    def log_epoch(self, metrics: dict, step: int) -> None:
        """Append one JSON line (flushed and fsynced, so a crash cannot tear earlier lines)."""
        if not self.write:
            return
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(metrics) + "\n")
            f.flush()
            os.fsync(f.fileno())
        shown = "  ".join(f"{k}={_fmt(metrics[k])}" for k in self.console_keys if k in metrics)
        self.info(f"epoch {_fmt(metrics['epoch'])}: {shown}")
        self._to_sinks(metrics, step)

    def log_media(self, media: dict[str, Path], step: int) -> None:
        for sink in self.sinks:
            sink.log_media(media, step)

    def set_summary(self, values: dict) -> None:
        for sink in self.sinks:
            sink.set_summary(values)

    def log_checkpoints(self, paths: list[Path], name: str) -> None:
        for sink in self.sinks:
            sink.log_checkpoints(paths, name)

    def truncate_after(self, epoch: int, step: int) -> None:
        """Keep only the records up to `epoch` / `step` (a resumed run redoes the later ones)."""
        if not self.write:
            return
        for path, key, last in ((self.metrics_path, "epoch", epoch), (self.steps_path, "step", step)):
            kept = [r for r in read_metrics(path) if r.get(key, 0) <= last]
            atomic_write(path, lambda f: f.write("".join(json.dumps(r) + "\n" for r in kept).encode()))

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


def read_metrics(path: Path) -> list[dict]:
    """All complete records of a metrics.jsonl; a torn last line (crash mid-write) is dropped."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
