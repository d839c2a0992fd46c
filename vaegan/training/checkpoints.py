"""A run's checkpoint: everything exact resume needs, written atomically, and restored."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from ..checkpoint import load_weights, save_checkpoint
from ..config import TrainingError
from ..device import (
    rng_state,
    set_rng_state,
)
from ..distributed import gather_objects
from ..priors.mixture import GaussianMixturePrior


class Checkpoints:
    """The checkpoint's contents, saved and restored; `Trainer`'s third job."""

    def state_dict(self, rng_per_rank: Optional[list] = None) -> dict:
        """Everything to resume from; `rng_per_rank`: every rank's RNG state (default: this one's)."""
        return {
            "model": self.model.state_dict(),
            **{name: net.state_dict() for name, net in self.critics.items()},
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict() if self.opt_d else None,
            "schedulers": [s.state_dict() for s in self.schedulers],
            "scalers": {k: s.state_dict() for k, s in self.scalers.items()},
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "prior": self.prior.state_dict() if self.prior is not None else None,
            "epoch": self.epoch, "step": self.step, "batch_in_epoch": self.batch_in_epoch,
            "epoch_sums": dict(self.epoch_sums), "epoch_counts": dict(self.epoch_counts),
            "config": self.cfg.to_dict(), "rng": rng_per_rank or [rng_state(self.device)],
            "best": self.best.get(self.cfg.best_metric),
            "best_values": dict(self.best),
            "wandb_id": self.wandb.id, "run_id": self.run_id,
            "source_latent_keys": self.source_latent_keys,
        }


    def _restore(self, saved: dict) -> None:
        load_weights(self.model, saved["model"], self.ckpt_path)
        self.source_latent_keys = saved.get("source_latent_keys")
        self.opt_g.load_state_dict(saved["opt_g"])
        for name, net in self.critics.items():
            load_weights(net, saved.get(name), self.ckpt_path, name.replace("_", " "))
        if self.opt_d is not None:
            self.opt_d.load_state_dict(saved["opt_d"])
        for scheduler, state in zip(self.schedulers, saved.get("schedulers", [])):
            scheduler.load_state_dict(state)
        for key, state in saved.get("scalers", {}).items():
            if state:  # a disabled scaler saves {}
                self.scalers[key].load_state_dict(state)
        if self.ema is not None:
            load_weights(self.ema, saved["ema"], self.ckpt_path, "EMA model")
        if saved.get("prior") is not None:
            self.prior = GaussianMixturePrior.from_state_dict(saved["prior"])
        self.epoch, self.step = saved["epoch"], saved["step"]
        # Older checkpoints kept per-metric bests (test/ ones too) or the --best-metric's value alone.
        self.best = {k: v for k, v in (saved.get("best_values") or {}).items() if k.startswith("val/") or k == "epoch"}
        picked_by = saved["config"].get("best_metric", self.cfg.best_metric)
        if saved["best"] is not None and picked_by == self.cfg.best_metric:
            self.best[self.cfg.best_metric] = saved["best"]
        elif saved["best"] is not None:  # the kept epoch's own value of the new metric (from its record) is the bar
            kept = self.best.get(self.cfg.best_metric)
            self.logger.info(f"NOTE: best.pt was picked by {picked_by}; from now on by {self.cfg.best_metric}: "
                             f"an epoch replaces it when it beats the kept epoch {self.best.get('epoch')}'s "
                             f"{self.cfg.best_metric} ({'not recorded' if kept is None else f'{kept:.6g}'})")
        self.batch_in_epoch = saved["batch_in_epoch"]
        self.epoch_sums, self.epoch_counts = saved["epoch_sums"], saved["epoch_counts"]
        states = saved["rng"] if isinstance(saved["rng"], list) else [saved["rng"]]  # a dict: one process
        set_rng_state(states[self.dist.rank] if len(states) == self.dist.world else states[0], self.device)
        self.logger.truncate_after(self.epoch, self.step)
        started_with = saved["config"].get("epochs", self.cfg.epochs)
        if self.cfg.lr_schedule == "cosine" and started_with != self.cfg.epochs:
            self.logger.info(f"NOTE: --epochs {self.cfg.epochs} (the run started with {started_with}) reshapes the "
                             f"cosine schedule: from step {self.step} on the learning rate follows the cosine over "
                             f"{self.cfg.epochs} epochs")
        where = f", batch {self.batch_in_epoch} of epoch {self.epoch + 1}" if self.batch_in_epoch else ""
        self.logger.info(f"resumed from {self.ckpt_path} at epoch {self.epoch}, step {self.step}{where}")


    def save(self, path: Optional[Path] = None) -> None:
        """Write a checkpoint, unless the weights went non-finite: the last good one stays."""
        params = list(self.model.parameters()) + self.disc_params
        if not all(torch.isfinite(p).all() for p in params):
            raise TrainingError(f"weights became non-finite at step {self.step}; kept the last good "
                                f"checkpoint {self.ckpt_path}")
        rng_per_rank = gather_objects(rng_state(self.device))  # a collective: every rank saves
        if self.dist.is_main:
            save_checkpoint(self.state_dict(rng_per_rank), path or self.ckpt_path)

