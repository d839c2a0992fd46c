"""One learned-prior training run, as `vaegan-prior` starts it (vaegan/programs/prior.py is its command line).

The frozen (EMA) encoder encodes the model's training images (the validation split stays held out)
into posterior means; a denoiser learns them (diffusion.py). The run goes to RUN/prior/<checkpoint
name>/ — config.yaml, log.txt, metrics.jsonl, samples_evolution.gif and diffusion.pt (written
atomically every `eval_every` steps; `resume` continues it) — where vaegan.load, vaegan-sample,
eval.py and vaegan-export find it when given that checkpoint.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Optional

import yaml

from ..config import DEVICES, WANDB_MODES, ConfigError
from ..options import REQUIRED, build_options, opt, option_fields
from . import METRIC_SUFFIXES, PREDICTIONS, SAMPLERS, prior_dir

INPUT, TRAINING, EVALUATION = "Model and data", "Training", "Evaluation and sampling"
RUN, LOGGING = "Run", "Logging"


@dataclasses.dataclass
class PriorConfig:
    """vaegan-prior's settings (vaegan.options: its flags, checks and docs). A `configs/prior_*.yaml`
    recipe sets the Training and Evaluation keys; --resume refuses a changed key that is not `resumable`."""
    checkpoint: str = opt(REQUIRED, "the trained model's checkpoint (best.pt / last.pt)", group=INPUT)
    config: Optional[str] = opt(None, "YAML recipe of the Training and Evaluation flags (see "
                                      "configs/prior_*.yaml); flags override it", metavar="FILE", group=INPUT,
                                resumable=True)
    data_dir: Optional[str] = opt(None, "where the training data is now (default: as in training)", group=INPUT,
                                  resumable=True)
    steps: int = opt(10_000, "optimizer steps to train for, whatever the number of latents (with --resume: the "
                             "total, so a larger value extends the run)", minimum=1, group=TRAINING, resumable=True)
    batch_size: int = opt(256, "latents per optimizer step", minimum=1, group=TRAINING)
    lr: float = opt(1e-3, "Adam learning rate", minimum=0, exclusive=True, group=TRAINING)
    width: Optional[int] = opt(None, "denoiser width: MLP width for vector latents (default 512), U-Net base "
                                     "channels for spatial ones (default 32)", minimum=1, group=TRAINING)
    layers: Optional[int] = opt(None, "denoiser depth: residual layers per U-Net level (default 2) or the MLP's "
                                      "residual blocks (default 4)", minimum=1, group=TRAINING)
    levels: int = opt(2, "U-Net levels of a spatial latent's denoiser (width, 2 x width, 4 x width ...): 2 halves "
                         "the latent once, 3 twice (its side padded to a multiple of 4)", minimum=2, below=5,
                      group=TRAINING)
    prediction: str = opt("epsilon", "what the denoiser predicts: the noise (epsilon) or the velocity "
                                     "(v_prediction, Salimans & Ho 2022)", choices=PREDICTIONS, group=TRAINING)
    snr_gamma: float = opt(0.0, "min-SNR-gamma loss weighting (Hang et al. 2023, who use 5): each timestep's loss "
                                "weighted by min(SNR, gamma) / SNR (epsilon) or / (SNR + 1) (v); 0: unweighted",
                           minimum=0, group=TRAINING)
    lr_warmup: int = opt(0, "optimizer steps of linear learning-rate warm-up from 0", minimum=0, group=TRAINING)
    lr_decay: str = opt("constant", "the learning rate after the warm-up: constant, or cosine to 0 at --steps",
                        choices=("constant", "cosine"), group=TRAINING)
    ema_decay: float = opt(0.999, "EMA of the denoiser's weights, which sample", minimum=0, below=1,
                           group=TRAINING)
    standardise: str = opt("channel", "how latents are brought to unit variance before the noise schedule: per "
                                      "channel (dim, for a vector latent) or by one global mean and std",
                           choices=("channel", "global"), group=TRAINING)
    seed: int = opt(0, "seed of the denoiser's initialisation, the batch order and the noise", group=TRAINING)
    conditional: bool = opt(False, "also learn each latent's class (the labels of the model's training split): "
                                   "samples of a class on request, with classifier-free guidance; labels are "
                                   "dropped 10 %% of the time so it samples unconditionally too", group=TRAINING)
    eval_every: int = opt(1000, "score samples, add a GIF frame and write diffusion.pt every N steps and at the "
                                "end", minimum=1, metavar="N", group=EVALUATION, resumable=True)
    eval_samples: Optional[int] = opt(None, "every --eval-every steps, the domain FD (and, with labels, class "
                                            "entropy) of N decoded samples against the model's validation images "
                                            "(default: 1000 when the model has a validation split; 0: off)",
                                      minimum=0, metavar="N", group=EVALUATION, resumable=True)
    sampling_steps: int = opt(25, "sampling steps of the evaluation samples, kept with the prior as the number its "
                                  "users draw with unless they name one", minimum=1, group=EVALUATION)
    sampler: str = opt("dpm", "how the sampling steps integrate the reverse process: dpm (DPM-Solver++, second "
                              "order: 6-17 % closer to the data than ddim at 25 steps on each of five spatial priors, "
                              "at the same cost) or ddim; kept with the prior as --sampling-steps is",
                       choices=SAMPLERS, group=EVALUATION)
    guidance: float = opt(2.0, "a conditional prior's classifier-free guidance scale (1: none; 2 gave the lowest FD "
                               "of 1 / 2 / 3 / 5 on Fashion-MNIST, 3 more samples of the asked class), for its "
                               "evaluation samples and kept with it as the scale its users draw with unless they "
                               "name one",
                          minimum=0, group=EVALUATION)
    resume: bool = opt(False, "continue RUN/prior/<name>/diffusion.pt with the settings it was trained with "
                              "(--steps, evaluation, --device, --data-dir and logging may change; a training flag "
                              "that differs is refused)", group=RUN, resumable=True)
    device: str = opt("auto", "where to run", choices=DEVICES, group=RUN, resumable=True)
    visuals: bool = opt(True, "samples_evolution.gif, a frame every --eval-every steps", group=LOGGING,
                        resumable=True)
    wandb: str = opt("disabled", "W&B logging, as in training", choices=WANDB_MODES, group=LOGGING,
                     resumable=True)
    wandb_project: str = opt("vaegan", "W&B project", group=LOGGING, resumable=True)
    wandb_dir: str = opt(".", "where W&B keeps its files", group=LOGGING, resumable=True)
    wandb_group: Optional[str] = opt(None, "W&B group", group=LOGGING, resumable=True)
    wandb_tags: Optional[str] = opt(None, "comma-separated W&B tags", group=LOGGING, resumable=True)
    run_name: Optional[str] = opt(None, "W&B run name (default: <run folder>-prior)", group=LOGGING,
                                  resumable=True)
    tensorboard: bool = opt(False, "also log to RUN/prior/<name>/tensorboard", group=LOGGING, resumable=True)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# What shapes the prior a run trains: fixed once it started (--resume refuses a different value).
TRAINING_KEYS = tuple(name for name, f in option_fields(PriorConfig).items()
                      if not f.metadata["resumable"] and name != "checkpoint")
RECIPE_KEYS = tuple(name for name, f in option_fields(PriorConfig).items()
                    if f.metadata["group"] in (TRAINING, EVALUATION))


def default_width(latent_dims: tuple[int, ...]) -> int:
    """The denoiser width when none is given: an MLP of 512 for vector latents, a U-Net of 32 for spatial."""
    return 512 if len(latent_dims) == 1 else 32


def resumed_prior_config(saved: dict, requested: PriorConfig, given: frozenset, latent_dims: tuple) -> PriorConfig:
    """The config a resumed prior trains with: the saved training settings; a given one that differs
    is refused with both values named. Everything else (the step budget, evaluation, logging) is the request's."""
    saved = {**saved, "width": saved.get("width") or default_width(latent_dims)}
    asked = {**requested.to_dict(), "width": requested.width or default_width(latent_dims)}
    diffs = [f"{k}: {saved[k]!r} in the prior, {asked[k]!r} now" for k in TRAINING_KEYS
             if k in given and k in saved and saved[k] != asked[k]]
    if diffs:
        raise ConfigError(f"--resume continues the prior with the settings it was trained with; these differ "
                          f"({'; '.join(diffs)}): drop them, or run without --resume to train a new prior")
    return dataclasses.replace(requested, **{k: saved[k] for k in TRAINING_KEYS if k in saved})


def existing_prior(path: Path, source: Path, step: int, resume: bool) -> Optional[dict]:
    """The prior run already at `path` (None: none), after the rules: --resume needs one trained on this
    step of the model; without --resume one of this step is refused and one of another step replaced."""
    from ..checkpoint import load_checkpoint

    if not path.is_file():
        if resume:
            raise ConfigError(f"--resume: no prior at {path}")
        return None
    state = load_checkpoint(path)
    if state["vae_step"] != step and resume:
        raise ConfigError(f"--resume: {path} was trained on {source} at step {state['vae_step']}, which is now at "
                          f"step {step}; run without --resume to train a new prior")
    if state["vae_step"] == step and not resume:
        raise ConfigError(f"{path.parent} already holds a prior; pass --resume to continue it")
    return state


def prior_logger(cfg: PriorConfig, out: Path, source: Path):
    """The run's logger: log.txt, metrics, W&B and, when asked, TensorBoard."""
    from ..logger import RunLogger
    from ..wandb_sink import WandbSink

    logger = RunLogger(out, console_keys=("step", "prior/loss", "val/domain_fd_samples_diffusion", "time/train_s"))
    if cfg.tensorboard:
        from ..tensorboard_sink import TensorBoardSink

        logger.sinks.append(TensorBoardSink(out / "tensorboard"))
    named = dataclasses.replace(cfg, run_name=cfg.run_name or f"{source.parent.parent.name}-prior")
    logger.sinks.append(WandbSink(named, out, None, {}, logger.info))
    return logger


def train_prior(cfg: PriorConfig, given: frozenset = frozenset()) -> Path:
    """Train (or continue) the prior; returns the path of diffusion.pt. `given`: the settings the user
    set (flags or recipe), which --resume compares with the saved ones."""
    from ..checkpoint import config_from_checkpoint, inference_weights, load_checkpoint, load_weights
    from ..data import load_data
    from ..device import resolve_device, resolve_precision
    from ..models import build_model

    cfg = build_options(PriorConfig, cfg.to_dict())  # the command line's checks, for a caller from Python too
    source = Path(cfg.checkpoint)
    saved = load_checkpoint(source)
    if not isinstance(saved.get("config"), dict) or "model" not in saved:
        raise ConfigError(f"{source} is not a vaegan training checkpoint")
    out = prior_dir(source)
    path = out / "diffusion.pt"
    existing = existing_prior(path, source, saved["step"], cfg.resume)
    # The model's own training images (its --limit-train, its validation hold-out) and nothing else.
    vae_cfg = config_from_checkpoint(saved["config"], source, device=cfg.device,
                                     **({"data_dir": cfg.data_dir} if cfg.data_dir else {}))
    data = load_data(vae_cfg)  # bad or missing data stops here, before anything is written
    device = resolve_device(cfg.device)
    vae = build_model(vae_cfg).to(device)
    load_weights(vae, inference_weights(saved), source)
    vae.eval()
    dims = tuple(vae.latent_dims)
    if cfg.resume:
        cfg = resumed_prior_config(existing["config"], cfg, given, dims)
    cfg = dataclasses.replace(cfg, width=cfg.width or default_width(dims))
    eval_samples = samples_to_score(cfg, data.val)
    if cfg.conditional and data.train.labels is None:
        raise ConfigError("--conditional needs labels: the model's training images have none (a folder without "
                          "class sub-folders)")

    out.mkdir(parents=True, exist_ok=True)
    if not cfg.resume:  # a prior of an older state of the model, or a run that crashed before its first checkpoint
        for old in [path, out / "metrics.jsonl", out / "steps.jsonl", *out.glob("frames/*.png")]:
            old.unlink(missing_ok=True)
    logger = prior_logger(cfg, out, source)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    logger.info(data.summary)
    if existing is not None and not cfg.resume:
        logger.info(f"training a new prior: the one here was trained on step {existing['vae_step']} of the model, "
                    f"which is now at step {saved['step']}")
    run = PriorRun(cfg, vae, saved, source, path, logger, device, resolve_precision(vae_cfg.precision, device))
    run.encode(data.train, existing)
    if eval_samples:
        run.score_other_priors(data, vae_cfg, eval_samples)
    run.build(existing)
    run.train()
    logger.close()
    return path


class PriorRun:
    """One vaegan-prior run, set up and trained in named phases: encode the latents, score the
    model's other priors, build (or restore) the denoiser, then train for `cfg.steps` optimizer
    steps, evaluating and checkpointing every `cfg.eval_every`."""

    def __init__(self, cfg: PriorConfig, vae, saved: dict, source: Path, path: Path, logger, device, amp):
        self.cfg, self.vae, self.saved, self.source, self.path = cfg, vae, saved, source, path
        self.logger, self.device, self.amp = logger, device, amp
        self.score, self.others, self.eval_samples = None, {}, 0

    def encode(self, train, existing: Optional[dict]) -> None:
        """The standardised posterior means of the training images (a resumed prior keeps its standardisation)."""
        from tqdm.auto import tqdm

        from ..autoencoder_kl import kept_latent_scale, standardisation
        from ..device import autocast
        from .diffusion import standardiser
        from .mixture import posterior_means

        start = time.perf_counter()
        with autocast(self.device, self.amp):
            latents = posterior_means(self.vae, tqdm(train.to(self.device).in_order(500), desc="encoding",
                                                     total=-(-len(train) // 500), leave=False))
        kept = kept_latent_scale(self.saved)
        if self.cfg.resume:
            self.mean, self.std = existing["prior"]["mean"].to(self.device), existing["prior"]["std"].to(self.device)
        elif kept is not None:  # the latent space is the source VAE's: standardise as its pipelines do
            mean, std = standardisation(kept, latents.shape[1])
            self.mean, self.std = (t.float().view(-1, 1, 1).to(self.device) for t in (mean, std))
        else:
            self.mean, self.std = standardiser(latents, per_channel=self.cfg.standardise == "channel")
        self.x0 = ((latents - self.mean) / self.std).float()
        self.labels = train.labels.to(self.device) if self.cfg.conditional else None
        self.class_names = ((train.class_names or [str(c) for c in range(int(train.labels.max()) + 1)])
                            if self.cfg.conditional else [])  # from the labels when the split names none
        self.steps_per_epoch = -(-len(self.x0) // self.cfg.batch_size)
        kind = f"conditional on {len(self.class_names)} classes" if self.class_names else "unconditional"
        self.logger.info(f"prior: {len(self.x0)} latents of shape {tuple(self.x0.shape[1:])} encoded in "
                         f"{time.perf_counter() - start:.0f} s; diffusion denoiser width {self.cfg.width}, "
                         f"{kind}, DDPM training, {self.cfg.sampler} sampling")

    def score_other_priors(self, data, vae_cfg, eval_samples: int) -> None:
        """The model's other priors, scored once on the same images: what --prior auto compares."""
        from .mixture import GaussianMixturePrior

        cfg, self.eval_samples = self.cfg, eval_samples
        self.score = SampleScore(data.val, vae_cfg, self.device, data)
        mixture = GaussianMixturePrior.from_state_dict(self.saved["prior"]) if self.saved.get("prior") else None
        for name, other in [("gaussian", None)] + ([("gmm", mixture)] if mixture is not None else []):
            self.others.update(self.score(decoded_samples(self.vae, other, eval_samples, cfg.seed + 2,
                                                          cfg.sampling_steps), name))
        self.logger.info(f"every evaluation: domain FD of {eval_samples} samples against the model's "
                         f"{len(data.val)} validation images; the model's other priors: "
                         + ", ".join(f"{k} {v:.2f}" for k, v in self.others.items() if "domain_fd" in k))

    def build(self, existing: Optional[dict]) -> None:
        import torch
        from diffusers.optimization import get_scheduler

        from ..device import set_rng_state
        from ..optim import make_ema
        from .diffusion import build_denoiser, noise_schedule

        torch.manual_seed(self.cfg.seed)
        self.denoiser = build_denoiser(tuple(self.x0.shape[1:]), self.cfg.width, len(self.class_names),
                                       self.cfg.layers, self.cfg.levels).to(self.device)
        self.ema = make_ema(self.denoiser, self.cfg.ema_decay)
        self.optimizer = torch.optim.Adam(self.denoiser.parameters(), lr=self.cfg.lr)
        self.lr_schedule = get_scheduler("constant_with_warmup" if self.cfg.lr_decay == "constant" else "cosine",
                                         self.optimizer, num_warmup_steps=self.cfg.lr_warmup,
                                         num_training_steps=self.cfg.steps)
        # fp16 autocast (a GPU without bf16) flushes small gradients to zero unless the loss is scaled
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)
        self.schedule, self.step = noise_schedule(self.cfg.prediction), 0
        if self.cfg.resume:
            self.denoiser.load_state_dict(existing["denoiser"])
            self.ema.load_state_dict(existing["ema"])
            self.optimizer.load_state_dict(existing["optimizer"])
            if existing.get("scaler"):
                self.scaler.load_state_dict(existing["scaler"])
            if existing.get("lr_schedule"):  # a larger --steps stretches a cosine decay to the new end
                self.lr_schedule.load_state_dict(existing["lr_schedule"])
            self.step = existing["step"]
            set_rng_state(existing["rng"][0], self.device)
            self.logger.truncate_after(self.step / self.steps_per_epoch, self.step)
            self.logger.info(f"resumed from {self.path} at step {self.step}")

    def batches(self):
        """(step, latent indices) from the current step to the budget: epochs of the seeded order,
        entered where a resumed run left off."""
        from ..data import epoch_batches

        while self.step < self.cfg.steps:
            epoch, offset = divmod(self.step, self.steps_per_epoch)
            for index in epoch_batches(len(self.x0), self.cfg.batch_size, self.cfg.seed, epoch)[offset:]:
                if self.step >= self.cfg.steps:
                    return
                yield index

    def train(self) -> None:
        import torch
        from tqdm.auto import tqdm

        from ..device import autocast
        from ..logger import LOG_EVERY
        from .diffusion import denoising_loss

        cfg = self.cfg
        passes = cfg.steps / self.steps_per_epoch
        self.logger.info(f"training {cfg.steps} steps of batch {cfg.batch_size} ({passes:.1f} passes over the "
                         f"latents), evaluated every {cfg.eval_every} steps")
        total, count, begin = torch.zeros((), device=self.device), 0, time.perf_counter()
        first_step, started = self.step, begin
        bar = tqdm(total=cfg.steps, initial=self.step, desc="prior", leave=False)
        self.denoiser.train()  # evaluation samples with the EMA copy: this one stays in training mode
        for index in self.batches():
            with autocast(self.device, self.amp):
                index = index.to(self.device)
                loss = denoising_loss(self.denoiser, self.x0[index], self.schedule,
                                      labels=None if self.labels is None else self.labels[index],
                                      snr_gamma=cfg.snr_gamma)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)  # skipped when the scaled gradients overflowed
            self.scaler.update()
            self.lr_schedule.step()
            self.ema.update_parameters(self.denoiser)
            total, count, self.step = total + loss.detach(), count + 1, self.step + 1
            bar.update()
            if self.step - first_step == LOG_EVERY:  # once, early: how long the whole run will take
                self._say_how_long(time.perf_counter() - started, LOG_EVERY)
            if self.step % LOG_EVERY == 0:
                self.logger.log_step({"prior/loss": loss.item()}, self.step)
            if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                self._end_round((total / count).item(), time.perf_counter() - begin)
                total, count, begin = torch.zeros((), device=self.device), 0, time.perf_counter()
        bar.close()

    def _say_how_long(self, seconds: float, steps: int) -> None:
        """The minutes the steps left will take at the pace of the last `steps`, which took `seconds`."""
        left = self.cfg.steps - self.step
        self.logger.info(f"{self.step} of {self.cfg.steps} steps; the {left} left take about "
                         f"{left * seconds / steps / 60:.0f} min at this pace (evaluations not counted)")

    def _end_round(self, mean_loss: float, seconds: float) -> None:
        """Evaluate the EMA denoiser's samples, draw the GIF frame, write diffusion.pt."""
        from ..checkpoint import save_checkpoint
        from ..device import rng_state
        from .diffusion import DiffusionPrior

        cfg, step = self.cfg, self.step
        prior = DiffusionPrior(self.ema.module, self.mean, self.std, tuple(self.x0.shape[1:]), cfg.width,
                               self.saved["step"], sampling_steps=cfg.sampling_steps, sampler=cfg.sampler,
                               class_names=self.class_names, guidance=cfg.guidance, layers=cfg.layers,
                               levels=cfg.levels, prediction=cfg.prediction)
        metrics = {"epoch": step / self.steps_per_epoch, "step": step, "prior/loss": mean_loss,
                   "time/train_s": seconds}
        if self.score is not None:
            metrics.update(self.others)
            metrics.update(self.score(decoded_samples(self.vae, prior, self.eval_samples, cfg.seed + 2,
                                                      cfg.sampling_steps), "diffusion"))
            prior.sample_fd = {name: metrics[self.score.fd_key(name)] for name in METRIC_SUFFIXES
                               if self.score.fd_key(name) in metrics}
            if prior.conditional:
                metrics.update(self.score.conditional(self.vae, prior, self.eval_samples, cfg.seed + 2,
                                                      cfg.sampling_steps))
        if cfg.visuals:  # the same noise every time: the GIF shows the prior learning
            _samples_frame(self.vae, prior, self.path.parent / "frames", step, cfg.seed + 1, cfg.sampling_steps)
        self.logger.log_epoch(metrics, step)
        save_checkpoint({"prior": prior.state_dict(), "denoiser": self.denoiser.state_dict(),
                         "ema": self.ema.state_dict(), "optimizer": self.optimizer.state_dict(), "step": step,
                         "scaler": self.scaler.state_dict(), "lr_schedule": self.lr_schedule.state_dict(),
                         "rng": [rng_state(self.device)], "config": cfg.to_dict(), "vae_checkpoint": self.source.name,
                         "vae_step": self.saved["step"]}, self.path)



class SampleScore:
    """Domain FD (and, with labels, class entropy) of decoded samples against the model's validation
    images, in its dataset's classifier's features, keyed as eval.py keys them."""

    def __init__(self, real, vae_cfg, device, data=None):
        from ..evaluation.domain import dataset_classifier, features_and_logits

        self.classifier, self.labelled = dataset_classifier(vae_cfg, device, data), real.labels is not None
        self.real, _ = features_and_logits(self.classifier, real.to(device).in_order(500))

    @staticmethod
    def fd_key(prior: str) -> str:
        return f"val/domain_fd_samples{METRIC_SUFFIXES[prior]}"

    def conditional(self, vae, prior, n: int, seed: int, steps: int) -> dict[str, float]:
        """FD of n class-balanced conditional samples (at the prior's guidance) and the share the
        domain classifier assigns to the class asked for."""
        import torch

        from ..evaluation.domain import conditional_sample_metrics

        asked = torch.arange(n) % len(prior.class_names)
        images = decoded_samples(vae, prior, n, seed, steps, labels=asked)
        return conditional_sample_metrics(self.classifier, self.real, images.to(self.real.device), asked, "val")

    def __call__(self, images, prior: str) -> dict[str, float]:
        """The metrics of `prior`'s samples (gaussian, gmm or diffusion)."""
        from ..evaluation.domain import class_entropy, features_and_logits, frechet_distance

        features, logits = features_and_logits(self.classifier, images.to(self.real.device))
        metrics = {self.fd_key(prior): frechet_distance(self.real, features)}
        if self.labelled:
            metrics[f"val/sample_class_entropy{METRIC_SUFFIXES[prior]}"] = class_entropy(logits)
        return metrics


def samples_to_score(cfg: PriorConfig, val) -> int:
    """How many samples each evaluation scores: --eval-samples, by default 1000 when the model has a
    validation split; never the test split, which only reports."""
    if val is None and cfg.eval_samples:
        raise ConfigError("--eval-samples: the model has no validation split (it was trained with --val-images 0) "
                          "to score samples against; pass --eval-samples 0")
    if val is None:
        return 0
    return 1000 if cfg.eval_samples is None else cfg.eval_samples


def decoded_samples(vae, prior, n: int, seed: int, steps: int, batch_size: int = 500, labels=None):
    """n decoded draws (CPU, float) of `prior` (None: N(0, I)) from a fixed seed: the same noise at every
    evaluation; `labels` [n]: a conditional prior's classes to draw."""
    import torch

    from .mixture import sample_latents

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return torch.cat([vae.decode_images(sample_latents(vae, len(chunk), prior, generator, steps,
                                                           None if labels is None else labels[chunk])).float().cpu()
                          for chunk in torch.arange(n).split(batch_size)])


def _samples_frame(vae, prior, frames_dir: Path, step: int, seed: int, steps: int) -> None:
    """Decodes of 40 draws from the same noise at this training step, added to samples_evolution.gif."""
    from ..visuals.draw import image_grid, read_png, with_caption, write_gif, write_png

    images = decoded_samples(vae, prior, 40, seed, steps)
    frames_dir.mkdir(parents=True, exist_ok=True)
    write_png(frames_dir / f"samples_{step:08d}.png",
              with_caption(image_grid(images, nrow=10), f"diffusion prior samples · step {step}"))
    frames = [read_png(p) for p in sorted(frames_dir.glob("samples_*.png"))]
    write_gif(frames_dir.parent / "samples_evolution.gif", frames)
