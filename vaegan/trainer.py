"""The training loop, written out: set up, then for each epoch train, evaluate, log, checkpoint.

Resuming is exact: the checkpoint holds the position inside the epoch (whose batch order is a
pure function of seed and epoch), the running epoch sums and every RNG state.
"""
from __future__ import annotations

import importlib.util
import math
import re
import signal
import time
import uuid
import warnings
from pathlib import Path
from typing import Iterable, Optional, Protocol

import torch
from sklearn.exceptions import ConvergenceWarning
from tqdm.auto import tqdm

from .autoencoder_kl import load_autoencoder_weights, with_source_attention
from .checkpoint import check_compatible, check_run_dir, load_checkpoint, load_weights, resumed_config, save_checkpoint
from .config import Config, ConfigError, TrainingError, save_yaml, with_image_spec
from .data import Data, ImageSplit, epoch_batches, load_data, validation_size
from .device import (
    autocast,
    cpu_has_fast_bf16,
    environment_info,
    memory_format,
    resolve_device,
    resolve_precision,
    rng_state,
    seed_everything,
    set_rng_state,
)
from .distributed import all_reduce_mean, any_rank, gather_objects, init_distributed, wrap_for_step
from .evaluation.domain import ValidationFidelity, dataset_classifier
from .evaluation.metrics import EVAL_SEED, split_metrics
from .logger import LOG_EVERY, RunLogger
from .losses import LPIPS, VAEGANLoss
from .models import build_model, evaluating, trainable_parameters
from .optim import make_ema, make_optimizer, make_scheduler
from .priors.mixture import GaussianMixturePrior, posterior_means
from .signals import GracefulStop, Interrupted
from .tracked import FIDELITY_METRICS, improves
from .wandb_sink import WandbSink

OUTCOMES = ("ok", "overflow", "nonfinite")  # of one optimizer update (_backward_and_step), best first


def back_off(scaler: torch.amp.GradScaler) -> None:
    """Lower the scale and restart the growth count, as the scaler does itself after an overflow."""
    scaler.update(scaler.get_scale() * scaler.get_backoff_factor())
    state = scaler.state_dict()
    state["_growth_tracker"] = 0
    scaler.load_state_dict(state)


class Callback(Protocol):
    def check(self, run_id: str) -> None: ...  # optional; before anything is written: refuse to clash
    def on_fit_start(self, trainer: "Trainer") -> None: ...
    def on_epoch_end(self, trainer: "Trainer", metrics: dict) -> None: ...
    def on_fit_end(self, trainer: "Trainer") -> None: ...


class Trainer:
    def __init__(self, cfg: Config, callbacks: Optional[list[Callback]] = None, saved: Optional[dict] = None):
        """`saved`: the checkpoint this run resumes, when the caller has read it already. Everything
        that can fail on bad input (run folder, checkpoint, data, settings, shared frames) happens
        before the first file is written."""
        self.run_dir = cfg.run_dir()
        self.ckpt_path = self.run_dir / "checkpoints" / "last.pt"
        self._check_run_dir(cfg)
        if saved is None and cfg.resumes():
            saved = load_checkpoint(self.ckpt_path)
        data = load_data(cfg)
        train, val, test, spec, self.data_summary = data.train, data.val, data.test, data.spec, data.summary
        # From here on the config holds the data's image spec: config.yaml and checkpoints record it.
        self.cfg = cfg = with_image_spec(cfg, spec.channels, spec.size)
        if cfg.init_from and not cfg.resumes():  # the source's attention levels, at this run's image size
            self.cfg = cfg = with_source_attention(cfg)
        if saved is not None:
            check_compatible(saved["config"], cfg.to_dict(), self.ckpt_path)
        self.dist = init_distributed(cfg.device)
        self.device = resolve_device(cfg.device, self.dist.local_rank)
        self.amp_dtype = resolve_precision(cfg.precision, self.device)
        perceptual = LPIPS(cfg.lpips_backbone) if cfg.perceptual_weight > 0 else None
        seed_everything(cfg.seed, cfg.deterministic)
        self._place_data(train, val, test)
        self.fidelity = self._validation_fidelity(data)
        self._build_networks(perceptual)
        self._reset_progress()
        self.callbacks = (callbacks or []) if self.dist.is_main else []  # only rank 0 writes files
        self.stop = GracefulStop()
        self._claim_shared_folders(saved)
        self._open_run_folder()
        self.logger = RunLogger(self.run_dir, write=self.dist.is_main)
        if saved is not None:
            self._restore(saved)
        self._open_sinks(saved)
        self._warn_about_setup(perceptual)

    def _place_data(self, train: ImageSplit, val: Optional[ImageSplit], test: ImageSplit) -> None:
        """The splits on the device, and the fixed subsets evaluation reads, made once (a streamed split
        keeps its loader's workers between epochs). Evaluation splits are this rank's shard."""
        cfg, rank, world = self.cfg, self.dist.rank, self.dist.world
        self.train_data, self.test_data = train.to(self.device), test.to(self.device)
        self.train_eval_data = (self.train_data.head(cfg.eval_train_images).shard(rank, world)
                                if cfg.eval_train_images else None)
        self.prior_fit_data = self.train_data.head(cfg.prior_fit_images)
        self.eval_data = self.test_data
        if cfg.eval_images and cfg.eval_images < len(self.test_data):
            pick = torch.randperm(len(self.test_data), generator=torch.Generator().manual_seed(cfg.seed))
            self.eval_data = self.test_data.subset(pick[:cfg.eval_images].sort().values)
        self.eval_data = self.eval_data.shard(rank, world)
        self.val_data = None if val is None else val.to(self.device).shard(rank, world)

    def _reset_progress(self) -> None:
        """Where a new run starts; `_restore` moves a resumed one to its checkpoint's place."""
        self.prior: Optional[GaussianMixturePrior] = None  # --prior gmm: refitted every epoch
        self.epoch, self.step = 0, 0
        self.best: dict[str, float] = {}  # the validation metrics of the epoch kept as best.pt
        self.batch_in_epoch = 0  # batches of the current epoch already trained
        self.epoch_sums: dict[str, float] = {}
        self.epoch_counts: dict[str, int] = {}
        self.skipped_in_a_row = 0
        self._pace_start, self._warned = (time.perf_counter(), 0), False  # reset by fit()

    def _claim_shared_folders(self, saved: Optional[dict]) -> None:
        """Name this run in the files it may share a folder with (the GIF frames) and let each callback
        refuse a clash. Checkpoints from before run ids existed are named by their W&B id."""
        self.run_id = (saved.get("run_id") or saved.get("wandb_id") or "legacy") if saved else uuid.uuid4().hex[:12]
        for callback in self.callbacks:
            if hasattr(callback, "check"):  # optional: callbacks that write nothing shared need none
                callback.check(self.run_id)

    def _open_run_folder(self) -> None:
        if not self.dist.is_main:
            return
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_yaml(self.cfg, self.run_dir / "config.yaml")
        except OSError as e:
            raise ConfigError(f"cannot write the run folder {self.run_dir} ({e.strerror})") from None

    def _open_sinks(self, saved: Optional[dict]) -> None:
        """W&B (resuming the checkpoint's run id) and, with --tensorboard, TensorBoard."""
        cfg = self.cfg
        self.wandb = WandbSink(cfg, self.run_dir, saved.get("wandb_id") if saved else None,
                               environment_info(self.device), warn=self.logger.info, enabled=self.dist.is_main)
        self.logger.sinks.append(self.wandb)
        if cfg.tensorboard and self.dist.is_main:
            from .tensorboard_sink import TensorBoardSink

            self.logger.sinks.append(TensorBoardSink(self.run_dir / "tensorboard",
                                                     self.step + 1 if saved is not None else None))

    def _warn_about_setup(self, perceptual: Optional[LPIPS]) -> None:
        if self.device.type == "cpu" and self.amp_dtype == torch.bfloat16 and not cpu_has_fast_bf16():
            self.logger.info("WARNING: bf16 on a CPU without AMX or AVX512-BF16 is emulated, far slower than fp32 "
                             "(16x for the U-Net step on an AVX2 CPU, bench/cpu_precision.py); --precision auto "
                             "picks fp32 here")
        if perceptual is not None and perceptual.random_backbone:
            self.logger.info("WARNING: LPIPS uses a RANDOM VGG backbone (--lpips-backbone random); "
                             "its values are not comparable to published LPIPS")

    def _build_networks(self, perceptual: Optional[LPIPS]) -> None:
        """Model, loss (with D and LPIPS), optimizers, and what the step calls: DDP wrappers under
        torchrun, compiled with --compile, the modules themselves otherwise."""
        cfg, device, amp = self.cfg, self.device, self.amp_dtype
        fmt = memory_format(device, amp, has_group_norm=True)
        self.model = build_model(cfg)
        self.source_latent_keys = None  # the --init-from source's latent scale (a resumed run: its checkpoint's)
        if cfg.init_from and not cfg.resumes():
            self.source_latent_keys = load_autoencoder_weights(self.model, cfg.init_from)
        self.model.to(device, memory_format=fmt)
        self.loss_fn = VAEGANLoss.from_config(cfg, perceptual).to(device, memory_format=fmt)
        if perceptual is not None:
            perceptual.to(memory_format=memory_format(device, amp, has_group_norm=False))
        self.opt_g = make_optimizer(cfg, trainable_parameters(self.model, cfg.train), cfg.lr)
        # The critics (PatchGAN, and the sample PatchGAN and latent critic if any) train together,
        # with one optimizer; each one's loss reaches only its own parameters.
        self.critics = self.loss_fn.critics()
        self.disc_params = [p for net in self.critics.values() for p in net.parameters()]
        self.opt_d = make_optimizer(cfg, self.disc_params, cfg.disc_lr or cfg.lr) if cfg.use_gan else None
        # fp16 gradients underflow without scaling; one scaler per optimizer (off unless fp16).
        fp16 = amp == torch.float16
        self.scalers = {"g": torch.amp.GradScaler(device.type, enabled=fp16),
                        "d": torch.amp.GradScaler(device.type, enabled=fp16 and cfg.use_gan)}
        self.steps_per_epoch = math.ceil(len(self.train_data) / cfg.batch_size)
        total_steps = cfg.epochs * self.steps_per_epoch
        self.schedulers = [make_scheduler(opt, cfg, total_steps) for opt in (self.opt_g, self.opt_d) if opt]
        # The EMA copy is what evaluation, the GIFs, best.pt and eval.py see.
        self.ema = make_ema(self.model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self.eval_model = self.ema.module if self.ema is not None else self.model
        # What the training step calls (DDP-wrapped and/or compiled, or the module itself);
        # self.model / self.loss_fn.discriminator stay the plain modules (state dicts, EMA).
        if cfg.compile:  # graphs compiled for an earlier run in this process (a --latent sweep) are not this one's
            torch._dynamo.reset()
        self.step_model = wrap_for_step(self.model, self.dist, device, cfg.compile)
        self.step_critics = {name: wrap_for_step(net, self.dist, device, cfg.compile)
                             for name, net in self.critics.items()}
        if cfg.compile and perceptual is not None:
            perceptual.net = torch.compile(perceptual.net)

    def _validation_fidelity(self, data: Data) -> Optional[ValidationFidelity]:
        """The per-epoch domain FDs on the validation split: for GAN runs, and whenever best.pt is
        picked by one. Every rank joins its shard's features, so each computes the same FD."""
        cfg = self.cfg
        if self.val_data is None or not (cfg.use_gan or cfg.best_metric in FIDELITY_METRICS):
            return None

        def gather(rows: torch.Tensor) -> torch.Tensor:
            return torch.cat([r.to(self.device) for r in gather_objects(rows.cpu())])

        classifier = dataset_classifier(cfg, self.device, data)
        return ValidationFidelity(classifier, self.val_data, cfg.eval_batch_size, gather)

    def _check_run_dir(self, cfg: Config) -> None:
        check_run_dir(self.run_dir, self.ckpt_path, cfg.resume)
        if cfg.tensorboard and importlib.util.find_spec("tensorboard") is None:
            raise ConfigError("--tensorboard needs the tensorboard package: pip install tensorboard")

    # ----------------------------------------------------------------- checkpoints
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

    # ----------------------------------------------------------------- training
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

    def train_step(self, x: torch.Tensor, global_batch: int) -> Optional[dict[str, torch.Tensor]]:
        """One G (and D) update; `x` is this rank's share of a global batch of `global_batch`
        images. None when the update was skipped as non-finite."""
        gan_active = self.loss_fn.gan_active(self.step)
        noise = self._share(torch.randn((global_batch, *self.model.latent_dims), device=self.device))
        # Prior draws for the GAN on samples, drawn for the global batch like the noise.
        prior_z = self._share(torch.randn((global_batch, *self.model.latent_dims), device=self.device)
                              if gan_active and self.cfg.gan_samples else None)
        # The loss under the same autocast: its networks (LPIPS's VGG, the pass through D) run in
        # the autocast dtype, its maths casts to fp32 itself (tested by dtype).
        with autocast(self.device, self.amp_dtype):
            out = self.step_model(x, noise=noise, prior_z=prior_z)
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

    def _warn_about_plan(self) -> None:
        """Before training: what would make best.pt or the GAN silently absent from this run."""
        total = self.cfg.epochs * self.steps_per_epoch
        if self.cfg.use_gan and total <= self.cfg.disc_start:
            epochs = self.cfg.disc_start // self.steps_per_epoch + 1
            self.logger.info(f"WARNING: the GAN never trains in this run: {self.cfg.epochs} epochs are {total} steps "
                             f"({self.steps_per_epoch} an epoch) and --disc-start is {self.cfg.disc_start}; it needs "
                             f"--epochs {epochs} or more, or a lower --disc-start. best.pt counts only epochs that "
                             f"trained the GAN, so it is not written")
        if self.val_data is None:
            self.logger.info("NOTE: no validation split (--val-images 0, or a checkpoint from before the split): "
                             "best.pt is not written or updated; use last.pt")

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

    def eval_metrics(self) -> dict[str, float]:
        bs, model, shown = self.cfg.eval_batch_size, self.eval_model, self.dist.is_main
        metrics = split_metrics(model, self.loss_fn, self.eval_data, bs, "test", self.amp_dtype, shown)
        if self.val_data is not None:
            metrics.update(split_metrics(model, self.loss_fn, self.val_data, bs, "val", self.amp_dtype, shown))
        if self.fidelity is not None:
            # Samples of the prior the run keeps (the mixture fitted this epoch, else N(0, I)); a
            # spatial latent's N(0, I) decodes are not images, so only its reconstructions are judged.
            with evaluating(model), autocast(self.device, self.amp_dtype):
                metrics.update(self.fidelity(model, self.prior, with_samples=self.cfg.latent_shape == "vector",
                                             seed=EVAL_SEED + self.dist.rank))
        if self.train_eval_data is not None:
            metrics.update(split_metrics(model, self.loss_fn, self.train_eval_data, bs, "train_eval",
                                         self.amp_dtype, shown))
        return metrics

    def fit_prior(self) -> None:
        """--prior gmm: refit the mixture on the (EMA) model's training posterior means. Every rank fits
        the same one (same images, same seed): the validation samples of each rank are drawn from it."""
        if not self.cfg.uses_mixture_prior():
            return
        with evaluating(self.eval_model), autocast(self.device, self.amp_dtype):
            mu = posterior_means(self.eval_model, self.prior_fit_data.in_order(self.cfg.eval_batch_size))
        with warnings.catch_warnings():  # a short first epoch's posteriors may not converge
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            self.prior = GaussianMixturePrior.fit(mu, self.cfg.prior_components, self.cfg.seed)

    def fit(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        precision = {None: "fp32", torch.bfloat16: "bf16 autocast",
                     torch.float16: "fp16 autocast + gradient scaling"}[self.amp_dtype]
        self.logger.info(self.data_summary)
        self.logger.info(f"training {self.cfg.arch} VAE (latent {self.cfg.latent} {self.cfg.latent_shape}"
                         f"{', GAN' if self.cfg.use_gan else ''}) on {len(self.train_data)} "
                         f"{self.cfg.dataset} images, device {self.device} ({precision}), run folder {self.run_dir}")
        for callback in self.callbacks:
            callback.on_fit_start(self)
        self._warn_about_plan()
        self._pace_start, self._warned = (time.perf_counter(), self.step), False
        with self.stop:
            while self.epoch < self.cfg.epochs:
                start = time.perf_counter()
                train_metrics = self.train_epoch()
                self.epoch += 1
                metrics = {"epoch": self.epoch, "step": self.step, **train_metrics}
                self.fit_prior()  # before evaluation, which draws samples from it
                if self.epoch % self.cfg.eval_every == 0 or self.epoch == self.cfg.epochs:
                    eval_start = time.perf_counter()
                    metrics.update(self.eval_metrics())
                    metrics["time/eval_s"] = time.perf_counter() - eval_start
                metrics["time/epoch_s"] = time.perf_counter() - start
                self.logger.log_epoch(metrics, self.step)
                # Frames before the checkpoint: after a crash in between, the resumed run redoes
                # this epoch and overwrites them, instead of leaving an epoch without a frame.
                for callback in self.callbacks:
                    callback.on_epoch_end(self, metrics)
                self._save_epoch(metrics)
        for callback in self.callbacks:
            callback.on_fit_end(self)
        self._finish(metrics)
        return metrics

    def _trained_the_gan(self) -> bool:
        """Whether any step so far trained the adversarial term (always True without --use_gan)."""
        return not self.cfg.use_gan or self.step > self.cfg.disc_start

    def _save_epoch(self, metrics: dict) -> None:
        # best.pt: among the epochs that trained the objective, the best by the validation metric
        # (None without a validation split, so no best.pt). Pixel metrics get worse when the GAN
        # starts, so a pre-GAN epoch would otherwise stay best for the whole run.
        name = self.cfg.best_metric
        if self._trained_the_gan() and improves(name, metrics.get(name), self.best.get(name)):
            self.best = {"epoch": self.epoch, **{k: v for k, v in metrics.items() if k.startswith("val/")}}
            self.save(self.ckpt_path.with_name("best.pt"))
        self.save()
        if self.cfg.keep_checkpoints:
            self.save(self.ckpt_path.with_name(f"epoch-{self.epoch:04d}.pt"))
            for old in sorted(self.ckpt_path.parent.glob("epoch-*.pt"))[:-self.cfg.keep_checkpoints]:
                if self.dist.is_main:
                    old.unlink()

    def _finish(self, metrics: dict) -> None:
        if not self.dist.is_main:
            return
        # The validation values of the checkpoint kept as best.pt (its epoch included), not per-metric bests.
        self.logger.set_summary({**metrics, **{f"best/{k}": v for k, v in self.best.items()}})
        self.logger.log_checkpoints([self.ckpt_path, self.ckpt_path.with_name("best.pt")],
                                    f"model-{self.run_dir.name}")
        self.logger.close()


def train(cfg: Config, given: Optional[Iterable[str]] = None) -> dict[str, float]:
    """Train one run. When it resumes, the checkpoint's config is the run's (see `resumed_config`):
    `given` names the keys the user set (None: all of `cfg`), which must agree with it."""
    from .visuals import EvolutionAssets

    saved = None
    if cfg.resumes():
        path = cfg.run_dir() / "checkpoints" / "last.pt"
        saved = load_checkpoint(path)
        cfg = resumed_config(saved["config"], cfg, given, path)
    return Trainer(cfg, [EvolutionAssets(cfg)] if cfg.visuals else [], saved).fit()
