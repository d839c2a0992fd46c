"""Using a trained model from Python: `vaegan.load(path)` and what it returns.

    import vaegan
    model = vaegan.load("runs/fashion-mnist-latent16-gan/checkpoints/best.pt")  # or an exported folder
    images = model.sample(16)                   # [16, C, H, W] in [0, 1], e.g. [16, 1, 28, 28]
    recon = model.reconstruct(images)

A checkpoint loads with `torch.load(weights_only=True)`; an exported folder (`vaegan-export`) is
`model.safetensors` + `config.json` (+ `prior.safetensors`, the fitted mixture), which needs no
pickle at all.
EMA weights are used when the run kept them.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

import torch

from .checkpoint import config_from_checkpoint, inference_weights, load_checkpoint, load_weights
from .config import Config, ConfigError
from .device import resolve_device
from .models import VAE, build_model, lerp_latents, to_images
from .priors import PRIOR_CHOICES, PRIORS, prior_dir
from .priors.mixture import GaussianMixturePrior

if TYPE_CHECKING:  # diffusers is imported only where a diffusion prior is read: loading stays fast without one
    from .priors.diffusion import DiffusionPrior

EXPORT_FILES = ("model.safetensors", "config.json", "prior.safetensors", "diffusion.safetensors")


class TrainedVAE:
    """A trained vaegan model in eval mode; images in and out are [N, C, H, W] tensors in [0, 1]."""

    def __init__(self, vae: VAE, config: Config, prior: Optional[GaussianMixturePrior], device: torch.device,
                 diffusion: Optional[DiffusionPrior] = None):
        self.vae, self.config, self.prior, self.device = vae.eval(), config, prior, device
        self.diffusion = None if diffusion is None else diffusion.to(device)  # vaegan-prior's, when trained

    @property
    def latent_dims(self) -> tuple[int, ...]:
        return self.vae.latent_dims

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Posterior means z of `images`; a spatial model encodes images larger than its training size
        in overlapping tiles of that size (`vaegan.autoencoder_kl.tiling_view`)."""
        images = images.to(self.device).float()
        if images.shape[-1] > self.config.image_size or images.shape[-2] > self.config.image_size:
            z = self._tiles(images.shape[-2:]).encode(2 * images - 1).latent_dist.mean.float()
            return z[..., :images.shape[-2] // self._factor, :images.shape[-1] // self._factor]  # tiles overhang
        return self.vae.encode(images)[0].float()

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] of latents z; a spatial latent larger than the training size's in tiles."""
        z = z.to(self.device).float()
        if z.dim() == 4 and (z.shape[-1] > self.latent_dims[-1] or z.shape[-2] > self.latent_dims[-2]):
            height, width = z.shape[-2] * self._factor, z.shape[-1] * self._factor
            logits = self._tiles((height, width)).decode(z).sample.float()[..., :height, :width]
            return to_images(logits, self.vae.linear_output).clamp(0.0, 1.0)
        return self.vae.decode_images(z)

    def _tiles(self, size: tuple[int, ...]):
        """The tiling view of a spatial model on diffusers' blocks; one line for what has none."""
        from .autoencoder_kl import tiling_view
        from .models import UNetVAE

        if not (isinstance(self.vae, UNetVAE) and self.vae.spatial):
            raise ConfigError(f"{size[-2]}x{size[-1]} px is larger than the model's {self.config.image_size} px: "
                              f"only a spatial latent on diffusers' blocks encodes and decodes in tiles")
        if size[-1] % self._factor or size[-2] % self._factor:
            raise ConfigError(f"{size[-2]}x{size[-1]} px: tiles need a multiple of the model's downsampling, "
                              f"{self._factor}")
        return tiling_view(self.vae)

    @property
    def _factor(self) -> int:
        """Image px per latent px of a spatial latent."""
        return self.config.image_size // self.latent_dims[-1]

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images))

    def priors(self) -> dict[str, object]:
        """The priors this model has, by name: gaussian always, gmm and diffusion when fitted / trained."""
        found = dict(zip(PRIORS, (None, self.prior, self.diffusion)))
        return {name: prior for name, prior in found.items() if name == "gaussian" or prior is not None}

    def resolve_prior(self, prior: str) -> str:
        """`auto` = the learned prior when the model has one (unless vaegan-prior measured the mixture's
        samples closer to the data), else its mixture, else N(0, I)."""
        have = self.priors()
        if prior == "auto":
            return auto_prior(self.prior, self.diffusion)
        if prior not in PRIORS:
            raise ConfigError(f"prior must be one of {', '.join(PRIOR_CHOICES)}, got {prior!r}")
        if prior not in have:
            what, hint = (("fitted mixture", "a spatial latent, or --prior gaussian") if prior == "gmm" else
                          ("diffusion", "train one with vaegan-prior"))
            raise ConfigError(f"this model has no {what} prior ({hint}); "
                              f"it has: {', '.join(have)}")
        return prior

    def latents(self, n: int, prior: str = "auto", temperature: float = 1.0, seed: Optional[int] = None,
                steps: Optional[int] = None, label=None, guidance: Optional[float] = None) -> torch.Tensor:
        """n prior draws (see `resolve_prior`); `temperature` scales the noise (a mixture's components
        keep their means), `steps` is the diffusion prior's number of sampling steps (default: its recipe's).
        `label` (a class index or name, or one per draw) and `guidance` (classifier-free, default the
        prior's own) ask a conditional learned prior for a class; `auto` then means that prior."""
        if label is not None or guidance is not None:
            if self.diffusion is None or not self.diffusion.conditional:
                raise ConfigError(f"{'a label' if label is not None else '--guidance'} needs a conditional "
                                  f"learned prior (vaegan-prior --conditional); this model has none")
            prior = "diffusion" if prior == "auto" else prior
        name = self.resolve_prior(prior)
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        if name == "gaussian":
            return temperature * torch.randn((n, *self.latent_dims), generator=generator)
        if name == "diffusion":
            return self.diffusion.sample(n, generator, temperature, steps, label, guidance)
        return self.prior.sample(n, generator, temperature)

    def sample(self, n: int, prior: str = "auto", temperature: float = 1.0, seed: Optional[int] = None,
               steps: Optional[int] = None, label=None, guidance: Optional[float] = None) -> torch.Tensor:
        """n decoded prior draws in [0, 1]; the arguments as `latents`'."""
        return self.decode(self.latents(n, prior, temperature, seed, steps, label, guidance))

    def interpolate(self, a: torch.Tensor, b: torch.Tensor, steps: int = 8) -> torch.Tensor:
        """Decodes along the straight line between the posterior means of images a and b ([C, H, W])."""
        za, zb = self.encode(torch.stack([a, b]))
        return self.decode(lerp_latents(za, zb, steps))


def auto_prior(mixture: Optional[GaussianMixturePrior], diffusion: Optional[DiffusionPrior]) -> str:
    """The diffusion prior when there is one, unless vaegan-prior measured the mixture's samples closer
    to the data; else the mixture when fitted; else N(0, I)."""
    if diffusion is not None and (mixture is None or diffusion.beats("gmm")):
        return "diffusion"
    return "gmm" if mixture is not None else "gaussian"


def load(path: Union[str, Path], device: str = "auto") -> TrainedVAE:
    """A checkpoint file (`last.pt`, `best.pt`) or a folder written by `vaegan-export` (either format:
    safetensors, or a diffusers AutoencoderKL / LatentPriorPipeline)."""
    path = Path(path)
    if path.is_dir() and _autoencoder_kl_folder(path) is not None:
        config, weights, prior, diffusion = _read_diffusers(path)
    elif path.is_dir():
        config, weights, prior, diffusion = _read_export(path)
    else:
        saved = load_checkpoint(path)
        config = config_from_checkpoint(saved["config"], path)
        weights = inference_weights(saved)
        prior = GaussianMixturePrior.from_state_dict(saved["prior"]) if saved.get("prior") else None
        diffusion = diffusion_prior_of(path, saved["step"])
    device = resolve_device(device)
    vae = build_model(config)
    load_weights(vae, weights, path)
    return TrainedVAE(vae.to(device), config, prior, device, diffusion)


def diffusion_prior_of(checkpoint: Path, step: int) -> Optional[DiffusionPrior]:
    """The prior vaegan-prior trained for this checkpoint, if any. One trained on another state of the
    model (the checkpoint was overwritten since) would decode to nonsense: it is left out, with a warning."""
    path = prior_dir(checkpoint) / "diffusion.pt"
    if not path.is_file():
        return None
    state = load_checkpoint(path)
    if state["vae_step"] != step:
        warnings.warn(f"left out {path}: it was trained on this model at step {state['vae_step']}, but "
                      f"{checkpoint} is at step {step}; train it again with vaegan-prior --checkpoint {checkpoint}",
                      stacklevel=2)
        return None
    from .priors.diffusion import DiffusionPrior

    return DiffusionPrior.from_state_dict(state["prior"])


def _read_export(folder: Path) -> tuple[Config, dict, Optional[GaussianMixturePrior], Optional[DiffusionPrior]]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    missing = [f for f in EXPORT_FILES[:2] if not (folder / f).is_file()]
    if missing:
        raise ConfigError(f"{folder} is not an exported vaegan model (missing {', '.join(missing)})")
    try:
        config = json.loads((folder / "config.json").read_text())
        weights = load_file(folder / "model.safetensors")
        prior_file = folder / "prior.safetensors"
        prior = None
        if prior_file.is_file():
            tensors = load_file(prior_file)
            prior = GaussianMixturePrior.from_state_dict({**tensors, "latent_dims": tensors["latent_dims"].tolist()})
        diffusion = _read_diffusion(folder / "diffusion.safetensors")
    except (OSError, ValueError, SafetensorError) as e:
        raise ConfigError(f"{folder}: cannot read the exported model ({type(e).__name__}: {e})") from None
    return config_from_checkpoint(config, folder), weights, prior, diffusion


def _autoencoder_kl_folder(folder: Path) -> Optional[Path]:
    """The AutoencoderKL folder of a diffusers export (`folder`/vae, or `folder` itself), else None."""
    for candidate in (folder / "vae", folder):
        config = candidate / "config.json"
        if config.is_file() and json.loads(config.read_text()).get("_class_name") == "AutoencoderKL":
            return candidate
    return None


def _read_diffusers(folder: Path) -> tuple[Config, dict, None, Optional[DiffusionPrior]]:
    """A `vaegan-export --format diffusers` folder as vaegan's config and weights, with the pipeline's
    learned prior when there is one (no fitted mixture: that form has none)."""
    from safetensors.torch import load_file

    from .autoencoder_kl import fields_from_autoencoder
    from .config import build_config, with_image_spec

    vae_dir = _autoencoder_kl_folder(folder)
    raw = json.loads((vae_dir / "config.json").read_text())
    weights_file = vae_dir / "diffusion_pytorch_model.safetensors"
    if not weights_file.is_file():
        raise ConfigError(f"{vae_dir} holds no diffusion_pytorch_model.safetensors (diffusers' weights file)")
    fields = fields_from_autoencoder(raw, str(vae_dir))
    config = with_image_spec(build_config(fields), fields["image_channels"], int(raw.get("sample_size", 32)))
    diffusion = _read_pipeline_prior(folder, raw, config) if (folder / "unet").is_dir() else None
    return config, load_file(weights_file), None, diffusion


def _read_pipeline_prior(folder: Path, vae_config: dict, config: Config) -> DiffusionPrior:
    """The learned prior of a LatentPriorPipeline folder: its unet, its scheduler, its latent scale."""
    from diffusers import UNet2DModel

    from .autoencoder_kl import standardisation
    from .priors.diffusion import DiffusionPrior, SpatialDenoiser

    unet = UNet2DModel.from_pretrained(folder / "unet")
    scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    pipeline = json.loads((folder / "model_index.json").read_text())
    side = config.image_size // config.downsample
    mean, std = (t.float().view(-1, 1, 1) for t in standardisation(vae_config, config.latent))
    classes = (unet.config.num_class_embeds or 1) - 1
    return DiffusionPrior(SpatialDenoiser(unet, side), mean, std, (config.latent, side, side),
                          unet.config.block_out_channels[0], 0, sampling_steps=pipeline.get("sampling_steps", 25),
                          timestep_spacing=scheduler.get("timestep_spacing", "leading"),
                          sampler="dpm" if scheduler["_class_name"].startswith("DPMSolver") else "ddim",
                          class_names=pipeline.get("class_names") or [str(c) for c in range(classes)],
                          guidance=pipeline.get("guidance_scale", 1.0), layers=unet.config.layers_per_block,
                          levels=len(unet.config.block_out_channels),
                          prediction=scheduler.get("prediction_type", "epsilon"))


def _read_diffusion(path: Path) -> Optional[DiffusionPrior]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    from .priors.diffusion import DiffusionPrior

    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as f:
        meta = {k: json.loads(v) for k, v in f.metadata().items()}
    tensors = load_file(path)
    denoiser = {k.removeprefix("denoiser."): v for k, v in tensors.items() if k.startswith("denoiser.")}
    return DiffusionPrior.from_state_dict({**meta, "denoiser": denoiser, "mean": tensors["mean"],
                                           "std": tensors["std"]})
