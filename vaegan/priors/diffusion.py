"""A learned prior over a trained VAE's latents: a denoising diffusion model (the second stage of
latent diffusion, Rombach et al. 2022), built from diffusers' models and schedulers.

Latents are standardised per channel (vector latents: per dim) with the training latents' mean and
std before the noise schedule sees them, as latent diffusion scales its latents to unit variance.
Spatial latents (C x h x w) are denoised by diffusers' `UNet2DModel`, padded to an even size; vector
latents by a residual MLP on diffusers' timestep embedding. Training predicts the noise under a
DDPM schedule to predict the noise (epsilon) or the velocity v = sqrt(abar) eps - sqrt(1 - abar) x0
(Salimans & Ho 2022), its loss optionally weighted by min-SNR-gamma (Hang et al. 2023); sampling runs
DPM-Solver++ or DDIM with as few steps as the caller asks for.

A conditional prior (Ho & Salimans 2022) also learns each latent's class: a class embedding (diffusers'
`num_class_embeds` in the U-Net, an embedding added to the MLP's timestep embedding) with one index
more than the classes, "no label", which replaces the label LABEL_DROPOUT of the time in training.
The same prior then samples unconditionally, and classifier-free guidance at sampling mixes the two:
eps = eps_uncond + guidance * (eps_cond - eps_uncond).
"""
from __future__ import annotations

import warnings
from typing import Optional

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, SchedulerMixin, UNet2DModel
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.training_utils import compute_snr
from torch import nn

TRAIN_TIMESTEPS = 1000
SCHEDULE = "squaredcos_cap_v2"  # the cosine schedule: less of the chain spent on near-pure noise
# Where DDIM's few steps sit on the 1,000 training timesteps. "leading" (25 steps: t = 960, 920, ...)
# starts short of pure noise; "trailing" starts at t = 999, where this schedule's sqrt(alpha_bar) is
# 5e-5, so the noise predictor's error is multiplied ~1,000x into the next step: its samples
# measured 1.6-5.2x farther from the data (docs/results.md#ddim-spacing). Trailing needs a
# zero-terminal-SNR schedule with v-prediction (Lin et al. 2024), which this prior does not train.
SPACING = "leading"
SAMPLER = "ddim"  # of SAMPLERS (vaegan.priors)
LABEL_DROPOUT = 0.1  # of a conditional prior's training labels replaced by "no label"
DEFAULT_LAYERS = {"vector": 4, "spatial": 2}  # MLP residual blocks; U-Net residual layers per level


class MLPDenoiser(nn.Module):
    """Noise (or v) prediction for vector latents: residual SiLU blocks, each told the timestep."""

    def __init__(self, dims: int, width: int = 512, blocks: int = 4, num_classes: int = 0):
        super().__init__()
        self.num_classes = num_classes
        self.class_embed = nn.Embedding(num_classes + 1, width) if num_classes else None  # + "no label"
        self.time_proj = Timesteps(128, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(128, width)
        self.inp = nn.Linear(dims, width)
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, width),
                                                  nn.SiLU(), nn.Linear(width, width)) for _ in range(blocks))
        self.time_to_block = nn.ModuleList(nn.Linear(width, width) for _ in range(blocks))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, dims))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, class_labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        emb = self.time_embed(self.time_proj(t.expand(len(x))).to(x.dtype))
        if self.class_embed is not None:
            emb = emb + self.class_embed(class_labels).to(emb.dtype)
        h = self.inp(x)
        for block, to_block in zip(self.blocks, self.time_to_block):
            h = h + block(h + to_block(F.silu(emb)))
        return self.out(h)


class SpatialDenoiser(nn.Module):
    """diffusers' UNet2DModel on C x h x w latents, zero-padded to its `sample_size` (a multiple of
    2 ** (levels - 1): 7 x 7 -> 8 x 8) so each down-sampling halves cleanly; the padding is cropped off
    the prediction.

    Parameters:
        unet: the noise predictor (`spatial_unet`, or one read back from an exported pipeline).
        size: the latents' side (h = w).
    """

    def __init__(self, unet: UNet2DModel, size: int):
        super().__init__()
        self.unet, self.size = unet, size
        self.num_classes = (unet.config.num_class_embeds or 1) - 1

    def forward(self, x: torch.Tensor, t: torch.Tensor, class_labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        pad = self.unet.config.sample_size - self.size
        out = self.unet(F.pad(x, (0, pad, 0, pad)), t, class_labels=class_labels).sample
        return out[..., :self.size, :self.size]


def spatial_unet(channels: int, size: int, width: int, num_classes: int = 0, layers: int = 2,
                 levels: int = 2) -> UNet2DModel:
    """The spatial prior's UNet2DModel: `levels` levels of width, 2 x width, 4 x width ... (`layers`
    residual layers each), attention on all but the first; with `num_classes`, a class embedding of
    one index more ("no label")."""
    multiple = 2 ** (levels - 1)
    return UNet2DModel(sample_size=-(-size // multiple) * multiple, in_channels=channels, out_channels=channels,
                       layers_per_block=layers, block_out_channels=tuple(width * 2 ** i for i in range(levels)),
                       down_block_types=("DownBlock2D",) + ("AttnDownBlock2D",) * (levels - 1),
                       up_block_types=("AttnUpBlock2D",) * (levels - 1) + ("UpBlock2D",),
                       norm_num_groups=min(32, width // 2), num_class_embeds=num_classes + 1 if num_classes else None)


def build_denoiser(latent_dims: tuple[int, ...], width: int, num_classes: int = 0, layers: Optional[int] = None,
                   levels: int = 2) -> nn.Module:
    """The denoiser of a latent shape: an MLP for vector latents (`levels` unused), a U-Net for spatial
    ones; `layers` None: DEFAULT_LAYERS."""
    if len(latent_dims) == 1:
        return MLPDenoiser(latent_dims[0], width, layers or DEFAULT_LAYERS["vector"], num_classes=num_classes)
    channels, size, _ = latent_dims
    return SpatialDenoiser(spatial_unet(channels, size, width, num_classes, layers or DEFAULT_LAYERS["spatial"],
                                        levels), size)


def guided_denoiser(denoiser: nn.Module, labels: Optional[torch.Tensor], guidance: float):
    """The noise prediction `sample_loop` steps with: the denoiser itself for an unconditional prior;
    for a conditional one, told `labels` (None: "no label" for all), mixed with its unconditional
    prediction by classifier-free `guidance` (1: the conditional prediction alone)."""
    if not getattr(denoiser, "num_classes", 0):
        return denoiser
    null = denoiser.num_classes  # the "no label" index

    def predict(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        none = torch.full((len(x),), null, dtype=torch.long, device=x.device)
        if labels is None:
            return denoiser(x, t, none)
        if guidance == 1.0:
            return denoiser(x, t, labels)
        uncond, cond = denoiser(torch.cat([x, x]), t, torch.cat([none, labels])).chunk(2)
        return uncond + guidance * (cond - uncond)

    return predict


def sampling_scheduler(timestep_spacing: str, sampler: str = SAMPLER, prediction: str = "epsilon") -> SchedulerMixin:
    """The sampler of the training schedule (DDIM or DPM-Solver++) for a denoiser predicting
    `prediction`, its timesteps placed by `timestep_spacing`; a fresh one per sampling call
    (DPM-Solver keeps its last outputs)."""
    config = noise_schedule(prediction).config
    if sampler == "dpm":
        return DPMSolverMultistepScheduler.from_config(config, timestep_spacing=timestep_spacing,
                                                       algorithm_type="dpmsolver++", solver_order=2)
    return DDIMScheduler.from_config(config, timestep_spacing=timestep_spacing)


def sample_loop(denoiser: nn.Module, scheduler: SchedulerMixin, noise: torch.Tensor, steps: int) -> torch.Tensor:
    """Standardised latents from `noise` by `steps` deterministic steps of `scheduler` with `denoiser`."""
    with warnings.catch_warnings():  # DPM-Solver's set_timesteps trips numpy 2's __array__ copy notice
        warnings.simplefilter("ignore", DeprecationWarning)
        scheduler.set_timesteps(steps)
    x = noise
    for t in scheduler.timesteps:
        x = scheduler.step(denoiser(x, t.to(x.device)), t, x).prev_sample
    return x


def noise_schedule(prediction: str = "epsilon") -> DDPMScheduler:
    # clip_sample off: diffusers clips the clean-latent estimate to [-1, 1] by default (made for images),
    # which would cut the tails of unit-variance latents at every sampling step.
    return DDPMScheduler(num_train_timesteps=TRAIN_TIMESTEPS, beta_schedule=SCHEDULE, prediction_type=prediction,
                         clip_sample=False)


def standardiser(latents: torch.Tensor, per_channel: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) per channel of latents [N, C, ...] (per dim for [N, D]), shaped to broadcast; with
    `per_channel` False, the overall mean and std repeated per channel."""
    dims = [0] + list(range(2, latents.dim()))
    if not per_channel:
        shape = [1, latents.shape[1]] + [1] * (latents.dim() - 2)
        return latents.mean().expand(shape).clone(), latents.std().clamp(min=1e-6).expand(shape).clone()
    return latents.mean(dims, keepdim=True)[0], latents.std(dims, keepdim=True)[0].clamp(min=1e-6)


def denoising_loss(denoiser: nn.Module, x0: torch.Tensor, schedule: DDPMScheduler,
                   generator: Optional[torch.Generator] = None, labels: Optional[torch.Tensor] = None,
                   snr_gamma: float = 0.0) -> torch.Tensor:
    """The loss of standardised latents x0 at uniformly drawn timesteps: the mean squared error of the
    schedule's prediction type (noise, or v), each latent's weighted by min(SNR, snr_gamma) / SNR
    (epsilon) or / (SNR + 1) (v) when `snr_gamma` > 0. A conditional denoiser is told `labels`,
    LABEL_DROPOUT of them replaced by "no label"."""
    noise = torch.randn(x0.shape, generator=generator, device=x0.device)
    t = torch.randint(0, TRAIN_TIMESTEPS, (len(x0),), generator=generator, device=x0.device)
    noisy = schedule.add_noise(x0, noise, t)
    v_prediction = schedule.config.prediction_type == "v_prediction"
    target = schedule.get_velocity(x0, noise, t) if v_prediction else noise
    if labels is None:
        prediction = denoiser(noisy, t)
    else:
        dropped = torch.rand(len(x0), generator=generator, device=x0.device) < LABEL_DROPOUT
        prediction = denoiser(noisy, t, labels.masked_fill(dropped, denoiser.num_classes))
    if not snr_gamma:
        return F.mse_loss(prediction, target)
    snr = compute_snr(schedule, t).clamp(min=1e-12)
    weight = snr.clamp(max=snr_gamma) / (snr + 1 if v_prediction else snr)
    per_latent = F.mse_loss(prediction.float(), target.float(), reduction="none").flatten(1).mean(1)
    return (weight * per_latent).mean()


class DiffusionPrior:
    """A trained denoiser with the standardisation it was trained under: draws latents for the VAE."""

    kind = "diffusion"

    def __init__(self, denoiser: nn.Module, mean: torch.Tensor, std: torch.Tensor, latent_dims: tuple[int, ...],
                 width: int, vae_step: int, sample_fd: Optional[dict[str, float]] = None, sampling_steps: int = 25,
                 timestep_spacing: str = SPACING, sampler: str = SAMPLER, class_names: Optional[list[str]] = None,
                 guidance: float = 1.0, layers: Optional[int] = None, levels: int = 2, prediction: str = "epsilon"):
        self.denoiser, self.mean, self.std = denoiser.eval(), mean, std
        self.layers, self.levels = layers, levels  # the denoiser's depth (build_denoiser's arguments)
        self.prediction = prediction  # what the denoiser predicts: the samplers are built for it
        self.class_names = list(class_names or [])  # a conditional prior's classes, by index
        self.guidance = guidance  # classifier-free guidance when the caller names none
        self.latent_dims, self.width, self.vae_step = tuple(latent_dims), width, vae_step
        self.sampling_steps = sampling_steps  # sampling steps when the caller names none: its recipe's
        self.timestep_spacing = timestep_spacing  # the spacing its sample_fd was measured with
        self.sampler = sampler  # and the sampler
        # Domain FD of this prior's samples and of the model's other priors', measured by vaegan-prior
        # on the same images: what `--prior auto` chooses by. Empty when nothing was scored
        # (--eval-samples 0, or a model without a validation split).
        self.sample_fd = dict(sample_fd or {})

    def beats(self, other: str) -> bool:
        """Whether its samples were measured closer to the data than those of the prior named `other`
        (True when that was not measured)."""
        mine, theirs = self.sample_fd.get("diffusion"), self.sample_fd.get(other)
        return mine is None or theirs is None or mine <= theirs

    @property
    def conditional(self) -> bool:
        return bool(self.class_names)

    def label_index(self, label) -> int:
        """A class index from an index or a class name; one line for anything else."""
        from ..config import ConfigError

        if not self.conditional:
            raise ConfigError("this model's learned prior is unconditional (train one with vaegan-prior "
                              "--conditional to ask for a class)")
        if isinstance(label, str) and not label.lstrip("-").isdigit():
            if label not in self.class_names:
                raise ConfigError(f"no class {label!r}; the classes are {', '.join(self.class_names)}")
            return self.class_names.index(label)
        if not 0 <= int(label) < len(self.class_names):
            raise ConfigError(f"label {label} is out of range: the prior has {len(self.class_names)} classes, "
                              f"0-{len(self.class_names) - 1}")
        return int(label)

    @torch.no_grad()
    def sample(self, n: int, generator: Optional[torch.Generator] = None, temperature: float = 1.0,
               steps: Optional[int] = None, labels=None, guidance: Optional[float] = None) -> torch.Tensor:
        """n latents [n, *latent_dims] on the CPU, by `steps` sampling steps (default: its own
        `sampling_steps`) from noise scaled by `temperature`. A conditional prior takes `labels` (one
        class, or one per latent, as indices or names; None: unconditional) and `guidance` (default its own)."""
        from ..config import ConfigError

        if guidance is not None and not self.conditional:
            raise ConfigError("--guidance needs a conditional learned prior (vaegan-prior --conditional)")
        if labels is not None:
            listed = labels if isinstance(labels, (list, tuple, torch.Tensor)) else [labels] * n
            labels = torch.tensor([self.label_index(v) for v in listed], device=self.mean.device)
        noise = temperature * torch.randn((n, *self.latent_dims), generator=generator).to(self.mean.device)
        scheduler = sampling_scheduler(self.timestep_spacing, self.sampler, self.prediction)
        predict = guided_denoiser(self.denoiser, labels, self.guidance if guidance is None else guidance)
        x = sample_loop(predict, scheduler, noise, steps or self.sampling_steps)
        return (x * self.std + self.mean).cpu()

    def to(self, device: torch.device) -> "DiffusionPrior":
        self.denoiser.to(device)
        self.mean, self.std = self.mean.to(device), self.std.to(device)
        return self

    def state_dict(self) -> dict:
        return {"kind": self.kind, "denoiser": self.denoiser.state_dict(), "mean": self.mean.cpu(),
                "std": self.std.cpu(), "latent_dims": list(self.latent_dims), "width": self.width,
                "vae_step": self.vae_step, "sample_fd": self.sample_fd, "sampling_steps": self.sampling_steps,
                "timestep_spacing": self.timestep_spacing, "sampler": self.sampler, "class_names": self.class_names,
                "guidance": self.guidance, "layers": self.layers, "levels": self.levels, "prediction": self.prediction}

    @classmethod
    def from_state_dict(cls, state: dict) -> "DiffusionPrior":
        dims = tuple(state["latent_dims"])
        class_names = state.get("class_names") or []
        depth = {"layers": state.get("layers"), "levels": state.get("levels") or 2}  # defaults: keys it predates
        denoiser = build_denoiser(dims, state["width"], len(class_names), **depth)
        denoiser.load_state_dict(state["denoiser"])
        return cls(denoiser, state["mean"], state["std"], dims, state["width"], state["vae_step"],
                   state.get("sample_fd"), state.get("sampling_steps", 25),
                   state.get("timestep_spacing", "leading"), state.get("sampler", "ddim"),
                   class_names, state.get("guidance", 1.0), **depth, prediction=state.get("prediction", "epsilon"))
