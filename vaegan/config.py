"""The one config object: every knob of a run, its default, its help text and its validation.

Precedence is dataclass default < YAML file (`--config`) < command-line flag. The CLI is
generated from the fields below, so `--help` can never drift from what the trainer reads.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from .options import ConfigError, check_field, opt, option_fields
from .tracked import BEST_METRICS

IMAGE_SUFFIXES = (".bmp", ".jpeg", ".jpg", ".png", ".webp")  # what --dataset folder and vaegan-sample read
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torchmetrics' Inception weights
DATASETS = ("mnist", "fashion-mnist", "kmnist", "emnist", "cifar10", "svhn", "celeba", "folder")
DEVICES = ("auto", "cpu", "cuda")  # every program's --device
WANDB_MODES = ("auto", "online", "offline", "disabled")  # training's and vaegan-prior's --wandb


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. persistent non-finite losses): one line, exit code 1."""


# The --help groups and docs/cli.md sections, in this order; each field names its own.
DATA, MODEL, INIT = "Data", "Model", "Start from a diffusers VAE"
LOSS, ADVERSARIAL = "Loss: reconstruction, KL and codes", "Loss: adversarial"
OPTIMISATION, PRIOR, EVALUATION = "Optimisation", "Sampling prior", "Evaluation"
RUN, HARDWARE, LOGGING = "Run folder and checkpoints", "Hardware and reproducibility", "Logging and visuals"
GROUP_ORDER = (DATA, MODEL, INIT, LOSS, ADVERSARIAL, OPTIMISATION, PRIOR, EVALUATION, RUN, HARDWARE, LOGGING)


@dataclass
class Config:
    # data
    dataset: str = opt("mnist", "dataset: a torchvision set (downloaded into data/ on first use) or "
                                "'folder' = your own images in --data-dir", choices=DATASETS, group=DATA)
    data_dir: Optional[str] = opt(None, "mnist / fashion-mnist / kmnist: a folder of IDX files "
                                        "(train-images-idx3-ubyte[.gz], ...); folder: a folder of PNG / "
                                        "JPEG / WebP / BMP images, nested (class sub-folders become labels; "
                                        "train/ and test/ sub-folders become the splits); others: where "
                                        "torchvision keeps the download", group=DATA, resumable=True)
    image_size: Optional[int] = opt(None, "resize (shorter side) and center-crop every image to this many "
                                          "px (default: the data's own size, which must then be square)",
                                    minimum=8, group=DATA)
    image_channels: Optional[int] = opt(None, "1 (grayscale) or 3 (RGB); default: 1 when every image is "
                                              "grayscale, else 3", choices=(1, 3), group=DATA)
    test_fraction: float = opt(0.1, "a folder without a test/ split: hold out this fraction of its images "
                                    "(chosen with --split-seed) as the test split", minimum=0, exclusive=True,
                                    below=1, group=DATA)
    val_images: int = opt(1000, "hold out this many training images (at most a tenth of them; chosen with "
                                "--split-seed, never trained on) as the validation split: its val/ metrics "
                                "each epoch choose best.pt, so the test split is never used to pick a model; "
                                "0: no validation split and no best.pt", minimum=0, group=DATA)
    split_seed: int = opt(0, "seed that chooses the held-out images (validation, and a folder's test split); "
                             "apart from --seed so that runs of several seeds train and are judged on the "
                             "same images", group=DATA)
    data_memory_mb: int = opt(4096, "keep the decoded images resident as uint8 when they fit in this many "
                                    "MB, else stream them from disk with a DataLoader", minimum=0,
                                    group=DATA, resumable=True)
    workers: int = opt(4, "DataLoader workers when streaming from disk (0: decode in the main process)",
                       minimum=0, group=DATA, resumable=True)
    limit_train: Optional[int] = opt(None, "use only the first N training images", minimum=1, group=DATA)
    limit_test: Optional[int] = opt(None, "use only the first N test images", minimum=1, group=DATA)
    # model
    arch: str = opt("unet", "unet: U-Net-style VAE; mlp / conv: the classic baselines",
                    choices=("unet", "mlp", "conv"), group=MODEL)
    latent: int = opt(4, "latent size: dims of the vector latent, or channels of the spatial one", minimum=1,
                      group=MODEL)
    latent_shape: str = opt("vector", "vector: a flat N-dim latent; spatial: N channels at the lowest "
                                      "level's size (7x7 at 28 px; unet only)", choices=("vector", "spatial"),
                                      group=MODEL)
    downsample: Optional[int] = opt(None, "unet: the factor f from the image to the lowest level (a spatial "
                                          "latent is side / f px: 64 px at f 8 is 8x8); levels = log2 f + 1 "
                                          "(default: halve while the bottom stays > 8 px: 4 at 28 px, 8 at "
                                          "64 px, 32 at 256 px)", choices=(2, 4, 8, 16, 32, 64), group=MODEL)
    channels: Optional[list] = opt(None, "unet: channels per resolution level, one entry per level, each "
                                         "level halving the size (default: 32, 64, then 128 up to the fourth "
                                         "level and 256 beyond, for as many levels as --downsample makes)",
                                         group=MODEL)
    attn_resolutions: Optional[list] = opt(None, "unet: also add self-attention at these feature-map sizes "
                                                 "(px); the lowest level always has it", group=MODEL)
    num_res_blocks: int = opt(1, "unet: residual blocks per level", minimum=1, group=MODEL)
    attn_heads: int = opt(4, "unet --blocks vaegan: heads of the self-attention (diffusers' blocks use one, "
                             "as AutoencoderKL)", minimum=1, group=MODEL)
    blocks: str = opt("diffusers", "unet: whose blocks build it: diffusers = AutoencoderKL's Encoder / Decoder "
                                   "(closer reconstructions on every metric measured; exports to diffusers, "
                                   "--init-from); vaegan = this package's own: a 1.14x faster CPU step, and what "
                                   "checkpoints trained with them load into", choices=("diffusers", "vaegan"),
                                   group=MODEL)
    decoder_output: Optional[str] = opt(None, "how the decoder's output becomes images: sigmoid (logits; any "
                                              "--recon-loss; the closest reconstructions measured) or linear "
                                              "((out + 1) / 2: diffusers' [-1, 1] convention, which a spatial "
                                              "model needs to export as an AutoencoderKL) (default: linear with "
                                              "--init-from, else sigmoid)", choices=("sigmoid", "linear"), group=MODEL)
    norm_groups: int = opt(8, "unet --blocks diffusers: GroupNorm groups (Stable Diffusion's VAE uses 32)",
                           minimum=1, group=MODEL)
    quant_conv: bool = opt(False, "unet --blocks diffusers, spatial latent: 1x1 convs on the moments and on z, "
                                  "as Stable Diffusion's VAE has", group=MODEL)
    hidden: int = opt(400, "mlp: hidden width; conv: width of the dense layer", minimum=1, group=MODEL)
    # loss
    recon_loss: Optional[str] = opt(None, "reconstruction loss, summed over pixels per image (default: bce for "
                                          "a sigmoid decoder; l1 for a linear one, whose reconstructions "
                                          "measured closer to the data than with mse)",
                                    choices=("bce", "mse", "l1"), group=LOSS)
    kl_weight: float = opt(0.03, "beta: weight of the per-image KL (nats). 1 trains on the true ELBO; 0.03 gave the "
                                 "best sample fidelity (docs/results.md). Evaluation reports the true ELBO either way",
                           minimum=0, group=LOSS)
    mmd_weight: float = opt(0.0, "weight of the MMD between the batch's posterior means and N(0, I) draws "
                                 "(InfoVAE): matches the aggregate posterior to the prior, so N(0, I) "
                                 "samples decode to images even at a small --kl-weight; 0 turns it off",
                            minimum=0, group=LOSS)
    swd_weight: Optional[float] = opt(
        None,
        "weight of the sliced Wasserstein-2 distance between the batch's posterior means and N(0, I) "
        "draws (SWAE); 0 turns it off (default: 200 for the U-Net VAE-GAN with a vector latent, its best "
        "sample fidelity with --disc-feature-weight; else 0)",
        minimum=0, group=LOSS)
    kl_warmup_steps: int = opt(0, "ramp beta linearly from 0 over this many steps", minimum=0, group=LOSS)
    eq_weight: float = opt(0.0, "spatial latent: weight of the equivariance term (EQ-VAE): each step the decoder "
                                "also decodes the batch's latents rotated by 90, 180 or 270 degrees or scaled down, "
                                "and must give the same transform of the images (per pixel as the reconstruction "
                                "term); a smoother latent for a prior to learn. 0 turns it off", minimum=0,
                           group=LOSS)
    latent_noise: float = opt(0.0, "training only: the decoder reconstructs from the latent plus Gaussian noise "
                                   "whose std, drawn per image from [0, this], is in units of that image's "
                                   "latent std; a decoder that tolerates the error a prior's samples carry. "
                                   "0 turns it off", minimum=0, group=LOSS)
    perceptual_weight: float = opt(1.0, "LPIPS weight per pixel (taming's convention: per image the "
                                        "term is weight * LPIPS * C*H*W); 0 turns it off", minimum=0, group=LOSS)
    lpips_backbone: str = opt("pretrained", "VGG16 for LPIPS: 'pretrained' (torchvision download), "
                                            "a path to a local VGG16 state dict, or 'random' (tests only)", group=LOSS)
    use_gan: bool = opt(False, "add the PatchGAN adversarial loss", group=ADVERSARIAL)
    disc_loss: str = opt("hinge", "discriminator loss", choices=("hinge", "vanilla"), group=ADVERSARIAL)
    disc_start: int = opt(500, "global step at which the discriminator and the adversarial term start",
                          minimum=0, group=ADVERSARIAL)
    disc_weight: float = opt(0.5, "scale of the adaptive adversarial weight", minimum=0, group=ADVERSARIAL)
    disc_channels: int = opt(64, "PatchGAN width", minimum=1, group=ADVERSARIAL)
    disc_arch: str = opt("wide", "PatchGAN: local = 18 px patches, no normalisation (7x7 logits at 28 px); "
                                  "wide = 34 px patches with GroupNorm (5x5 logits at 28 px, every "
                                  "logit sees every pixel)", choices=("local", "wide"), group=ADVERSARIAL)
    gan_samples: Optional[bool] = opt(None, "with --use_gan: decodes of z ~ N(0, I) get an adversarial term too "
                                            "(Larsen et al.), against a second PatchGAN of their own that tells them "
                                            "from real images (the reconstructions' D never sees them); default: on "
                                            "for the U-Net VAE-GAN with a vector latent of 16 dims or more, else off",
                                            group=ADVERSARIAL)
    disc_feature_weight: Optional[float] = opt(
        None,
        "with --use_gan: weight of Larsen et al.'s learned similarity, the distance between the "
        "discriminator's hidden features of an image and of its reconstruction, added to the reconstruction "
        "term from --disc-start; 0 turns it off (default: 1 for the U-Net VAE-GAN with a vector latent, else 0)",
        minimum=0, group=ADVERSARIAL)
    latent_adversary_weight: float = opt(0.0, "with --use_gan: weight of an adversarial term on the posterior "
                                              "means against an MLP critic that tells them from N(0, I) draws "
                                              "(adversarial autoencoder); the critic trains with the PatchGAN "
                                              "(from --disc-start, same optimizer); 0 turns it off", minimum=0,
                                              group=ADVERSARIAL)
    # start from a diffusers VAE
    init_from: Optional[str] = opt(None, "start from a diffusers AutoencoderKL: a local folder (its config.json "
                                         "and weights, or a pipeline folder with vae/) or a Hugging Face Hub id; "
                                         "the model's shape comes from its config (a spatial latent on diffusers' "
                                         "blocks, linear output) and its weights are the first step's", group=INIT)
    train: str = opt("all", "which weights train: all, or decoder (the encoder, and so the latent space, "
                            "frozen: fine-tuning a VAE whose latents a diffusion model already uses)",
                     choices=("all", "decoder"), group=INIT)
    # optimisation
    optimizer: str = opt("adam", "optimizer for both networks", choices=("adam", "adamw"), group=OPTIMISATION)
    lr: float = opt(1e-3, "learning rate of the VAE", minimum=0, exclusive=True, group=OPTIMISATION)
    disc_lr: Optional[float] = opt(None, "learning rate of the discriminator (default: --lr)",
                                   minimum=0, exclusive=True, group=OPTIMISATION)
    beta1: float = opt(0.9, "Adam beta1", minimum=0, group=OPTIMISATION)
    beta2: float = opt(0.999, "Adam beta2", minimum=0, group=OPTIMISATION)
    weight_decay: float = opt(0.0, "weight decay (decoupled with adamw)", minimum=0, group=OPTIMISATION)
    lr_schedule: str = opt("constant", "learning-rate schedule of both networks after the warmup",
                           choices=("constant", "cosine"), group=OPTIMISATION)
    warmup_steps: int = opt(0, "ramp both learning rates linearly from 0 over this many steps", minimum=0,
                            group=OPTIMISATION)
    ema_decay: float = opt(0.0, "exponential moving average of the VAE's weights (0: off); evaluation, "
                                "GIFs, best.pt and eval.py use the EMA weights", minimum=0, below=1,
                           group=OPTIMISATION)
    batch_size: int = opt(128, "training batch size", minimum=1, group=OPTIMISATION)
    eval_batch_size: int = opt(100, "batch size for evaluation", minimum=1, group=EVALUATION, resumable=True)
    eval_every: int = opt(1, "evaluate every N epochs (and always after the last one)", minimum=1,
                          group=EVALUATION, resumable=True)
    eval_images: Optional[int] = opt(None, "evaluate on a fixed, seeded subset of N test images each time "
                                           "(default: the whole test split; eval.py always takes the whole split)",
                                     minimum=1, group=EVALUATION, resumable=True)
    eval_train_images: int = opt(1000, "evaluate each epoch on this many training images too "
                                       "(train_eval/ metrics); 0 skips it", minimum=0,
                                       group=EVALUATION, resumable=True)
    prior: str = opt("auto", "prior of the run's per-epoch samples (GIF, val/domain_fd_samples): gaussian = "
                             "N(0, I); gmm = a Gaussian mixture fitted on the training posterior means each "
                             "epoch, kept in the checkpoint; auto = gmm for vector latents, else gaussian",
                     choices=("auto", "gaussian", "gmm"), group=PRIOR)
    prior_components: int = opt(50, "components of the --prior gmm mixture", minimum=1, group=PRIOR)
    prior_fit_images: int = opt(10000, "fit the --prior gmm mixture on the first N training images",
                                minimum=1, group=PRIOR)
    epochs: int = opt(10, "train until this epoch (with --resume: total, not additional)", minimum=0,
                      group=OPTIMISATION, resumable=True)
    # run
    seed: int = opt(0, "random seed (model init, data order, sampling)", group=HARDWARE)
    device: str = opt("auto", "auto picks cuda when available", choices=DEVICES,
                      group=HARDWARE, resumable=True)
    precision: str = opt("auto", "network precision: auto = bf16 autocast on CUDA GPUs with bf16 and on CPUs "
                                 "with AMX / AVX512-BF16, fp16 autocast + gradient scaling on CUDA GPUs without "
                                 "bf16 (T4, V100), else fp32; losses are always fp32",
                         choices=("auto", "fp32", "bf16", "fp16"), group=HARDWARE)
    compile: bool = opt(False, "torch.compile the networks (compile time is logged separately)",
                        group=HARDWARE, resumable=True)
    out: Optional[str] = opt(None, "run folder (default runs/<dataset>-latent<N>[-spatial][-gan][-<arch>])",
                             group=RUN, resumable=True)
    resume: str = opt("no", "continue from <out>/checkpoints/last.pt with its settings (--resume auto: when it "
                            "exists); only --epochs, evaluation, logging, checkpoints, device and data location "
                            "may change",
                      choices=("no", "yes", "auto"), group=RUN, resumable=True)
    keep_checkpoints: int = opt(0, "also keep the last N epoch checkpoints (checkpoints/epoch-0007.pt) "
                                   "besides last.pt and best.pt (0: none)", minimum=0, group=RUN, resumable=True)
    checkpoint_every: int = opt(0, "also write last.pt every N steps inside an epoch (0: only at epoch "
                                   "ends)", minimum=0, group=RUN, resumable=True)
    deterministic: bool = opt(False, "deterministic kernels only (with --resume: bitwise-equal results "
                                     "on CPU)", group=HARDWARE)
    grad_clip: float = opt(0.0, "clip the VAE's and the discriminator's gradient norm (0: off)", minimum=0,
                           group=OPTIMISATION)
    max_nonfinite_steps: int = opt(20, "stop after this many non-finite steps in a row (each is "
                                       "skipped)", minimum=1, group=HARDWARE, resumable=True)
    assets_dir: Optional[str] = opt(None, "per-epoch GIFs and plots go to <assets-dir>/latent_<N>[-spatial]"
                                          "[-<arch>]/ (default: <out>/assets, so runs never share frames)",
                                          group=LOGGING, resumable=True)
    wandb: str = opt("auto", "W&B logging: auto = online with credentials, else offline (WANDB_MODE "
                             "is honoured)", choices=WANDB_MODES,
                             group=LOGGING, resumable=True)
    tensorboard: bool = opt(False, "also log to TensorBoard, in <out>/tensorboard (tensorboard --logdir runs): "
                                   "the same keys as metrics.jsonl and steps.jsonl, and the per-epoch frames",
                                   group=LOGGING, resumable=True)
    wandb_project: str = opt("vaegan", "W&B project", group=LOGGING, resumable=True)
    wandb_dir: str = opt(".", "folder in which W&B keeps its wandb/ run files", group=LOGGING, resumable=True)
    wandb_group: Optional[str] = opt(None, "W&B group (a --latent sweep gets one automatically)",
                                     group=LOGGING, resumable=True)
    wandb_tags: Optional[str] = opt(None, "comma-separated W&B tags", group=LOGGING, resumable=True)
    run_name: Optional[str] = opt(None, "W&B run name (default: the run folder's name)", group=LOGGING, resumable=True)
    best_metric: Optional[str] = opt(None, "validation metric that picks best.pt, among the epochs that "
                                           "trained the GAN when there is one (default: val/domain_fd_recon with "
                                           "--use_gan, as pixel metrics punish the sharpness the GAN buys; else "
                                           "val/mse)", choices=BEST_METRICS, group=EVALUATION, resumable=True)
    visuals: bool = opt(True, "write the evolution GIFs, curves and figures (--no-visuals skips them)",
                        group=LOGGING, resumable=True)

    def __post_init__(self) -> None:
        # Unset = the measured recipe (docs/results.md): the SWD + D-feature pair gives the best
        # sample fidelity for the U-Net VAE-GAN with a vector latent; the baselines and the spatial
        # recipe are unmeasured with them, so there unset means off. The GAN on prior samples helps
        # every FD at latent 16 but costs reconstructions and mixture samples at latent 4, so it is
        # on from 16 dims.
        measured = self.use_gan and self.arch == "unet" and self.latent_shape == "vector"
        if self.swd_weight is None:
            self.swd_weight = 200.0 if measured else 0.0
        if self.disc_feature_weight is None:
            self.disc_feature_weight = 1.0 if measured else 0.0
        if self.gan_samples is None:
            self.gan_samples = measured and self.latent >= 16
        if self.best_metric is None:
            self.best_metric = "val/domain_fd_recon" if self.use_gan else "val/mse"
        if self.decoder_output is None:
            self.decoder_output = "linear" if self.init_from else "sigmoid"
        if self.recon_loss is None:
            self.recon_loss = "l1" if self.decoder_output == "linear" else "bce"

    def run_dir(self) -> Path:
        if self.out:
            return Path(self.out)
        name = f"{self.dataset}-latent{self.latent}"
        name += "-spatial" if self.latent_shape == "spatial" else ""
        name += "-gan" if self.use_gan else ""
        name += "" if self.arch == "unet" else f"-{self.arch}"
        return Path("runs") / name

    def resumes(self) -> bool:
        """Whether this run continues from <out>/checkpoints/last.pt."""
        checkpoint = self.run_dir() / "checkpoints" / "last.pt"
        return self.resume == "yes" or (self.resume == "auto" and checkpoint.is_file())

    def uses_mixture_prior(self) -> bool:
        return self.prior == "gmm" or (self.prior == "auto" and self.latent_shape == "vector")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


FIELDS = option_fields(Config)

GROUPS: dict[str, tuple[str, ...]] = {
    title: tuple(name for name, f in FIELDS.items() if f.metadata["group"] == title) for title in GROUP_ORDER}
RESUME_MAY_CHANGE = frozenset(name for name, f in FIELDS.items() if f.metadata["resumable"])
def check_value(name: str, value: Any) -> Any:
    """Type-check and range-check one training key; returns it (ints are accepted for floats)."""
    if name not in FIELDS:
        raise ConfigError(f"unknown config key '{name}': train.py's keys are in docs/cli.md and --print-config "
                          f"(a configs/prior_*.yaml recipe is for vaegan-prior --config)")
    if name == "resume" and isinstance(value, bool):  # configs written when it was a flag
        value = "yes" if value else "no"
    return check_field(Config, name, value)


def validate(cfg: Config) -> Config:
    for name in FIELDS:
        check_value(name, getattr(cfg, name))
    if cfg.latent_shape == "spatial" and cfg.arch != "unet":
        raise ConfigError("--latent-shape spatial needs --arch unet")
    if cfg.prior == "gmm" and cfg.latent_shape == "spatial":
        raise ConfigError("--prior gmm needs a vector latent (a full-covariance mixture of a spatial "
                          "latent is too large to fit)")
    if cfg.latent_adversary_weight > 0 and (not cfg.use_gan or cfg.latent_shape != "vector"):
        raise ConfigError("--latent-adversary-weight needs --use_gan (its critic trains with the PatchGAN) "
                          "and a vector latent")
    if cfg.eq_weight > 0 and cfg.latent_shape != "spatial":
        raise ConfigError("--eq-weight needs a spatial latent (it rotates and scales the latent's grid)")
    if cfg.disc_feature_weight > 0 and not cfg.use_gan:
        raise ConfigError("--disc-feature-weight needs --use_gan (the features are the discriminator's)")
    check_unet(cfg)
    if cfg.recon_loss == "bce" and cfg.decoder_output == "linear":
        raise ConfigError("--recon-loss bce needs --decoder-output sigmoid (a linear decoder's images are not "
                          "probabilities): use mse or l1")
    if cfg.best_metric == "val/lpips" and cfg.perceptual_weight == 0:
        raise ConfigError("--best-metric val/lpips is never measured with --perceptual-weight 0; pick another")
    if cfg.best_metric == "val/domain_fd_samples" and cfg.latent_shape == "spatial":
        raise ConfigError("--best-metric val/domain_fd_samples is measured for vector latents only "
                          "(N(0, I) decodes of a spatial latent are not images); pick another")
    if cfg.dataset == "folder" and not cfg.data_dir:
        raise ConfigError("--dataset folder needs --data-dir DIR (a folder of images)")
    if cfg.image_size is not None:
        check_image_spec(cfg)
    return cfg


def check_unet(cfg: Config) -> None:
    """The U-Net settings that fit together: levels, GroupNorm groups, heads, the diffusers-only knobs."""
    diffusers = cfg.arch == "unet" and cfg.blocks == "diffusers"
    groups = cfg.norm_groups if diffusers else 8
    if cfg.downsample is not None and cfg.arch != "unet":
        raise ConfigError("--downsample needs --arch unet")
    if cfg.arch == "unet" and cfg.channels is not None:
        if cfg.downsample is not None and 2 ** (len(cfg.channels) - 1) != cfg.downsample:
            raise ConfigError(f"--downsample {cfg.downsample} needs {int(math.log2(cfg.downsample)) + 1} levels, "
                              f"but --channels lists {len(cfg.channels)}; drop one or make them agree")
        if len(cfg.channels) < 2:
            raise ConfigError(f"channels must list at least 2 levels, got {cfg.channels}")
        if any(c % groups for c in cfg.channels):
            raise ConfigError(f"channels must be multiples of {groups} (GroupNorm groups), got {cfg.channels}")
        if not diffusers and cfg.channels[-1] % cfg.attn_heads:
            raise ConfigError(f"attn_heads ({cfg.attn_heads}) must divide the last level's channels")
    if not diffusers and (cfg.norm_groups != 8 or cfg.quant_conv):
        raise ConfigError("--norm-groups and --quant-conv need --arch unet --blocks diffusers")
    if cfg.quant_conv and cfg.latent_shape != "spatial":
        raise ConfigError("--quant-conv needs a spatial latent")
    if cfg.init_from and not (diffusers and cfg.latent_shape == "spatial" and cfg.decoder_output == "linear"):
        raise ConfigError("--init-from builds an AutoencoderKL: --arch unet --blocks diffusers, a spatial latent "
                          "and --decoder-output linear")


def auto_channels(size: int, downsample: Optional[int] = None) -> list[int]:
    """The U-Net's channels per level: log2(downsample) + 1 levels, or without a factor one level per
    halving until the bottom is <= 8 px (28 -> 7: 3 levels, 64 -> 8: 4, 256 -> 8: 6); widths 32, 64,
    128, 128, then 256, so the cost of the full-size levels stays low at 128-256 px."""
    if downsample is not None:
        levels = int(math.log2(downsample)) + 1
    else:
        levels = 1
        while size % 2 ** levels == 0 and size // 2 ** (levels - 1) > 8:
            levels += 1
    return [min(32 * 2 ** i, 128 if i < 4 else 256) for i in range(levels)]


def unet_channels(cfg: Config, size: int) -> list[int]:
    """The channels per level a U-Net of `cfg` has at `size` px: its own list, else from --downsample."""
    return cfg.channels or auto_channels(size, cfg.downsample)


def check_image_spec(cfg: Config) -> None:
    """The image size must halve cleanly through every U-Net level (and the baselines' two)."""
    size = cfg.image_size
    if cfg.arch == "unet":
        levels = len(unet_channels(cfg, size))
        if size % 2 ** (levels - 1):
            fewer = "a smaller --downsample" if cfg.downsample else "fewer --channels"
            raise ConfigError(f"image size {size} px does not halve {levels - 1} times for the U-Net's "
                              f"{levels} levels; pass --image-size (a multiple of {2 ** (levels - 1)}) "
                              f"or {fewer}")
    elif cfg.arch == "conv" and size % 4:
        raise ConfigError(f"--arch conv needs an image size divisible by 4, got {size}")


def with_image_spec(cfg: Config, channels: int, size: int) -> Config:
    """The config with the data's image spec and the U-Net levels it implies filled in: what the
    run folder's config.yaml and the checkpoint record, so a model rebuilds from them alone."""
    resolved = dataclasses.replace(cfg, image_channels=channels, image_size=size,
                                   channels=unet_channels(cfg, size))
    return validate(resolved)


def load_yaml(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values")
    return {k.replace("-", "_"): v for k, v in data.items()}


def build_config(overrides: dict) -> Config:
    """Defaults, then `overrides` (already merged YAML + CLI), checked key by key."""
    checked = {k: check_value(k, v) for k, v in overrides.items()}
    return validate(Config(**checked))


def save_yaml(cfg: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
