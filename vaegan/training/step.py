"""The optimizer step of G and D (skipping and counting non-finite or overflowed updates), an epoch of
steps, and what a step may stop for: a signal, or a pace that says the run will be long."""
from __future__ import annotations

import math
import re
import signal
import time
import warnings
from typing import Optional

import torch
from tqdm.auto import tqdm

from ..config import TrainingError
from ..data import epoch_batches, validation_size
from ..device import autocast
from ..distributed import all_reduce_mean, any_rank
from ..logger import LOG_EVERY
from ..signals import Interrupted

OUTCOMES = ("ok", "overflow", "nonfinite")  # of one optimizer update (_backward_and_step), best first


def back_off(scaler: torch.amp.GradScaler) -> None:
    """Lower the scale and restart the growth count, as the scaler does itself after an overflow."""
    scaler.update(scaler.get_scale() * scaler.get_backoff_factor())
    state = scaler.state_dict()
    state["_growth_tracker"] = 0
    scaler.load_state_dict(state)



class TrainingStep:
    """One optimizer update and an epoch of them; `Trainer`'s first job."""

    def _backward_and_step(self, loss: torch.Tensor, params, optimizer, scaler) -> str:
        """One optimizer update: "ok"; "nonfinite" (loss or gradient, update skipped: counts for
        --max-nonfinite-steps); or, under fp16, "overflow": the loss was finite but the scaled
        gradient overflowed, so the update is skipped and the scale lowered — the scaler's normal
        way of finding its scale, not a sign of divergence."""
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)  # clip the true gradient (a no-op without fp16)
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip or math.inf)
        loss_ok, grad_ok = torch.stack([torch.isfinite(loss), torch.isfinite(grad_norm)]).tolist()  # one host sync
        if scaler.is_enabled():
            if loss_ok and grad_ok:
                scaler.step(optimizer)
                scaler.update()
                return "ok"
            # Skipped here (not left to the scaler, which misses a norm that overflows while
            # every element is finite), and the scale backs off as after a scaler skip.
            back_off(scaler)
            return "overflow" if loss_ok else "nonfinite"
        if loss_ok and grad_ok:
            optimizer.step()
            return "ok"
        return "nonfinite"


    def _share(self, t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """This rank's part of a tensor made for the global batch (all of it without DDP)."""
        return t if t is None or not self.dist.enabled else t.chunk(self.dist.world)[self.dist.rank]

    def _decoder_noise(self, global_batch: int) -> torch.Tensor:
        """Unit draws times a level from U(0, --latent-noise) per image, for the global batch."""
        dims = self.model.latent_dims
        levels = torch.rand((global_batch,) + (1,) * len(dims), device=self.device) * self.cfg.latent_noise
        return torch.randn((global_batch, *dims), device=self.device) * levels

    def train_step(self, x: torch.Tensor, global_batch: int) -> Optional[dict[str, torch.Tensor]]:
        """One G (and D) update; `x` is this rank's share of a global batch of `global_batch`
        images. None when the update was skipped as non-finite."""
        gan_active = self.loss_fn.gan_active(self.step)
        noise = self._share(torch.randn((global_batch, *self.model.latent_dims), device=self.device))
        # Prior draws for the GAN on samples, drawn for the global batch like the noise.
        prior_z = self._share(torch.randn((global_batch, *self.model.latent_dims), device=self.device)
                              if gan_active and self.cfg.gan_samples else None)
        decoder_noise = self._share(self._decoder_noise(global_batch)) if self.cfg.latent_noise > 0 else None
        # The loss under the same autocast: its networks (LPIPS's VGG, the pass through D) run in
        # the autocast dtype, its maths casts to fp32 itself (tested by dtype).
        with autocast(self.device, self.amp_dtype):
            out = self.step_model(x, noise=noise, prior_z=prior_z, equivariance=self.cfg.eq_weight > 0,
                                  decoder_noise=decoder_noise)
            loss, logs = self.loss_fn.generator_loss(x, out, self.step, self.model.last_layer)
        outcome = self._backward_and_step(loss, self.model.parameters(), self.opt_g, self.scalers["g"])
        if outcome == "ok" and self.ema is not None:
            self.ema.update_parameters(self.model)
        if outcome != "nonfinite" and gan_active:
            critics = self.step_critics
            prior_codes = (self._share(torch.randn((global_batch, *self.model.latent_dims), device=self.device))
                           if "latent_discriminator" in critics else None)
            with autocast(self.device, self.amp_dtype):
                d_loss, d_logs = self.loss_fn.discriminator_loss(x, out.images, fake_samples=out.sample_images,
                                                                 codes=out.mu, prior_codes=prior_codes,
                                                                 critics=critics)
            d_outcome = self._backward_and_step(d_loss, self.disc_params, self.opt_d, self.scalers["d"])
            outcome = max(outcome, d_outcome, key=OUTCOMES.index)  # the worse of the two updates
            logs.update(d_logs)
        if outcome == "overflow":
            self.epoch_counts["scaler_skipped_steps"] = self.epoch_counts.get("scaler_skipped_steps", 0) + 1
        finite = outcome != "nonfinite"
        logs["lr"] = torch.tensor(self.opt_g.param_groups[0]["lr"])
        with warnings.catch_warnings():  # D idles before disc_start and skipped steps skip an update
            warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()`"))
            for scheduler in self.schedulers:  # the schedule is a function of the global step
                scheduler.step()
        self.step += 1
        if finite:
            self.skipped_in_a_row = 0
            return logs
        self.skipped_in_a_row += 1
        self.epoch_counts["skipped_steps"] = self.epoch_counts.get("skipped_steps", 0) + 1
        if self.skipped_in_a_row >= self.cfg.max_nonfinite_steps:
            raise TrainingError(f"non-finite loss or gradients in {self.skipped_in_a_row} steps in a row "
                                f"(up to step {self.step}); stopped, last good checkpoint: {self.ckpt_path}")
        return None


    def _accumulate(self, logs: dict[str, torch.Tensor]) -> None:
        for k, v in logs.items():  # terms that start at disc_start exist only in some steps
            self.epoch_sums[k] = self.epoch_sums.get(k, 0.0) + v
            self.epoch_counts[k] = self.epoch_counts.get(k, 0) + 1


    def _epoch_means(self) -> dict[str, float]:
        means = {f"train/{k}": float(all_reduce_mean(torch.as_tensor(v / self.epoch_counts[k], device=self.device)))
                 for k, v in self.epoch_sums.items()}
        means["train/skipped_steps"] = self.epoch_counts.get("skipped_steps", 0)
        if self.scalers["g"].is_enabled():
            means["train/scaler_skipped_steps"] = self.epoch_counts.get("scaler_skipped_steps", 0)
        return means


    def train_epoch(self) -> dict[str, float]:
        self.model.train()
        batches = epoch_batches(len(self.train_data), self.cfg.batch_size, self.cfg.seed, self.epoch)
        if self.dist.enabled:  # equal shares on every rank keep DDP's mean equal to the global one
            batches = [b for b in batches if len(b) % self.dist.world == 0]
        images = self.train_data.batches(self._share(b) for b in batches[self.batch_in_epoch:])
        bar = tqdm(range(self.batch_in_epoch, len(batches)), total=len(batches), initial=self.batch_in_epoch,
                   desc=f"epoch {self.epoch + 1}/{self.cfg.epochs}", leave=False, dynamic_ncols=True,
                   disable=not self.dist.is_main)
        for i, x in zip(bar, images):
            logs = self.train_step(x, len(batches[i]))
            self.batch_in_epoch = i + 1
            if logs is not None:
                self._accumulate(logs)
            if logs is not None and (i + 1) % LOG_EVERY == 0:
                shown = {k: round(v.item(), 4) for k, v in logs.items() if k != "kl_weight"}
                bar.set_postfix(shown)
                self.logger.log_step({f"train/{k}": v for k, v in shown.items()}, self.step)
                self._warn_if_long(len(batches))
            if self.cfg.checkpoint_every and self.step % self.cfg.checkpoint_every == 0:
                self.save()
            if self._stop_requested(i):
                self._stop_for_signal()
        means = self._epoch_means()
        self.batch_in_epoch, self.epoch_sums, self.epoch_counts = 0, {}, {}
        return means


    def _warn_if_long(self, steps_per_epoch: int) -> None:
        """Once, after the first 2 x LOG_EVERY steps this process ran: if the steps left would take
        over 20 minutes at the measured pace, say so, with a quicker command that still trains the GAN."""
        started, first_step = self._pace_start
        if self._warned or self.step - first_step < 2 * LOG_EVERY:
            return
        self._warned = True
        per_step = (time.perf_counter() - started) / (self.step - first_step)
        left = (self.cfg.epochs * steps_per_epoch - self.step) * per_step
        if left > 20 * 60:
            gan = " (GAN steps, from --disc-start on, are slower)" if self.loss_fn.discriminator is not None \
                and self.step < self.cfg.disc_start else ""
            self.logger.info(f"NOTE: at {per_step:.2f} s/step on {self.device.type}, the steps left take about "
                             f"{left / 3600:.1f} h plus evaluation{gan}. A first look: {self.quick_command(per_step)}")


    def quick_command(self, per_step: float) -> str:
        """A short run of the same recipe into a folder of its own: 3 epochs of at most 8,000 images,
        the GAN (if any) from the second epoch on, and about how long its steps take."""
        images = min(8000, len(self.train_data) + (0 if self.val_data is None else len(self.val_data)))
        steps = math.ceil((images - validation_size(images, self.cfg.val_images)) / self.cfg.batch_size)
        flags = f"--limit-train {images} --epochs 3"
        if self.cfg.use_gan:
            flags += f" --disc-start {steps}"
        return (f"add {flags} --out {self.run_dir}-quick (about {3 * steps * per_step / 60:.0f} min of steps "
                f"at this pace)")


    def _stop_requested(self, i: int) -> bool:
        if not self.dist.enabled:
            return self.stop.requested is not None
        # Ranks must stop at the same step; agreeing costs a collective, so only at the log cadence.
        return (i + 1) % LOG_EVERY == 0 and any_rank(self.stop.requested is not None, self.device)


    def _stop_for_signal(self) -> None:
        signum = self.stop.requested or signal.SIGTERM
        self.save()
        self.logger.close()
        raise Interrupted(f"stopped by signal {signum} at epoch {self.epoch + 1}, step {self.step}; "
                          f"saved {self.ckpt_path}. Resume with the same command plus --resume auto", signum)

