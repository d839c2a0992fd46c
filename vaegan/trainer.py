"""The training loop, written out: set up, then for each epoch train, evaluate, log, checkpoint (the
step, the epoch's end and the checkpoint are the Trainer's mixins in vaegan/training/).

Resuming is exact: the checkpoint holds the position inside the epoch (whose batch order is a
pure function of seed and epoch), the running epoch sums and every RNG state.
"""
from __future__ import annotations

import importlib.util
import math
import time
import uuid
from typing import Iterable, Optional, Protocol

import torch

from .autoencoder_kl import load_autoencoder_weights, with_source_attention
from .checkpoint import check_compatible, check_run_dir, load_checkpoint, resumed_config
from .config import Config, ConfigError, save_yaml, with_image_spec
from .data import Data, ImageSplit, load_data
from .device import (
    cpu_has_fast_bf16,
    environment_info,
    memory_format,
    resolve_device,
    resolve_precision,
    seed_everything,
)
from .distributed import gather_objects, init_distributed, wrap_for_step
from .evaluation.domain import ValidationFidelity, dataset_classifier
from .logger import RunLogger
from .losses import LPIPS, VAEGANLoss
from .models import build_model, trainable_parameters
from .optim import make_ema, make_optimizer, make_scheduler
from .priors.mixture import GaussianMixturePrior
from .signals import GracefulStop
from .tracked import FIDELITY_METRICS
from .training.checkpoints import Checkpoints
from .training.epoch_end import EpochEnd
from .training.step import TrainingStep
from .wandb_sink import WandbSink


class Callback(Protocol):
    def check(self, run_id: str) -> None: ...  # optional; before anything is written: refuse to clash
    def on_fit_start(self, trainer: "Trainer") -> None: ...
    def on_epoch_end(self, trainer: "Trainer", metrics: dict) -> None: ...
    def on_fit_end(self, trainer: "Trainer") -> None: ...


class Trainer(TrainingStep, EpochEnd, Checkpoints):
    """A run set up top to bottom (data, networks, run folder, sinks, a checkpoint to resume), then `fit`:
    for each epoch train (`TrainingStep`), evaluate and keep (`EpochEnd`), checkpoint (`Checkpoints`)."""

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
