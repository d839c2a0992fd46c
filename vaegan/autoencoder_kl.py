"""A diffusers AutoencoderKL in and out of vaegan.

In: `--init-from SOURCE` (a local folder or a Hugging Face Hub id) sets the U-Net's fields from the
AutoencoderKL's config (`fields_from_autoencoder`) and its first weights from the AutoencoderKL's
(`load_autoencoder_weights`). Out: a spatial U-Net on diffusers' blocks with a linear decoder holds
exactly AutoencoderKL's modules, so `as_autoencoder_kl` hands its weights over unchanged, with the
latents' scale in the config (`LATENT_KEYS`).

The latent scale is read the way diffusers' pipelines read it (docs/diffusers.md): a pipeline
decodes a diffusion model's latents x as z = x * std + mean per channel, where (`standardisation`)
  - SDXL-style, with `latents_mean` and `latents_std`: mean = latents_mean, std = latents_std / scaling_factor;
  - SD3 / Flux, with `shift_factor`: mean = shift_factor, std = 1 / scaling_factor;
  - Stable Diffusion 1 / 2: mean = 0, std = 1 / scaling_factor.
A VAE trained here writes all four keys so that each convention gives unit variance on its training
latents (`latent_statistics`); a decoder-only fine-tune keeps its source's keys as they were.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import torch

from .config import ConfigError

if TYPE_CHECKING:
    from diffusers import AutoencoderKL

    from .models import UNetVAE

LATENT_KEYS = ("scaling_factor", "shift_factor", "latents_mean", "latents_std")
BLOCKS = {"DownEncoderBlock2D": False, "AttnDownEncoderBlock2D": True}  # down block -> has attention
UP_OF = {"DownEncoderBlock2D": "UpDecoderBlock2D", "AttnDownEncoderBlock2D": "AttnUpDecoderBlock2D"}


def autoencoder_location(source: str) -> tuple[str, Optional[str]]:
    """(folder or hub id, subfolder) of the AutoencoderKL named by `source`: a folder holding its
    config.json, a pipeline folder holding vae/config.json, or a hub id."""
    path = Path(source).expanduser()
    if path.is_dir():
        if (path / "config.json").is_file():
            return str(path), None
        if (path / "vae" / "config.json").is_file():
            return str(path), "vae"
        raise ConfigError(f"--init-from {source}: a folder without config.json or vae/config.json "
                          f"(a diffusers AutoencoderKL or pipeline folder)")
    if path.exists() or source.startswith((".", "/", "~")) or source.count("/") != 1:
        raise ConfigError(f"--init-from {source}: no such folder, and not a Hugging Face Hub id (owner/name)")
    return source, None


def read_autoencoder_config(source: str) -> dict:
    """The AutoencoderKL config of `source` (a hub id is fetched: a repo of the VAE alone, or a
    pipeline's vae/ subfolder)."""
    return resolve_autoencoder(source)[2]


def resolve_autoencoder(source: str) -> tuple[str, Optional[str], dict]:
    """(folder or hub id, subfolder, config) of the AutoencoderKL named by `source`; a hub id is
    tried as a repo of the VAE alone, then as a pipeline's vae/ subfolder, and the weights are read
    from wherever the config was found."""
    from diffusers import AutoencoderKL

    where, subfolder = autoencoder_location(source)
    for sub in [subfolder] if subfolder or Path(where).is_dir() else [None, "vae"]:
        try:
            with warnings.catch_warnings():  # huggingface_hub's deprecation notices about its own arguments
                warnings.simplefilter("ignore")
                return where, sub, dict(AutoencoderKL.load_config(where, subfolder=sub))
        except (OSError, ValueError) as e:
            error = e
    raise ConfigError(f"--init-from {source}: cannot read an AutoencoderKL config "
                      f"({type(error).__name__}: {str(error).splitlines()[0][:160]})")


def fields_from_autoencoder(config: dict, source: str) -> dict:
    """The vaegan config fields that build the same network as the AutoencoderKL `config`; one line
    naming what does not fit (another class, activation or block type)."""
    def refuse(what: str) -> ConfigError:
        return ConfigError(f"--init-from {source}: {what}; vaegan builds AutoencoderKL's Encoder / Decoder "
                           f"with SiLU, (Attn)DownEncoderBlock2D / (Attn)UpDecoderBlock2D and a mid attention")

    name = config.get("_class_name", "AutoencoderKL")
    if name != "AutoencoderKL":
        raise refuse(f"its class is {name}")
    if config.get("act_fn", "silu") != "silu" or not config.get("mid_block_add_attention", True):
        raise refuse("its activation or mid block differs")
    down = list(config.get("down_block_types", ("DownEncoderBlock2D",)))
    up = list(config.get("up_block_types", ("UpDecoderBlock2D",)))
    if any(d not in BLOCKS for d in down) or up != [UP_OF[d] for d in reversed(down)]:
        raise refuse(f"its blocks are {down} / {up}")
    channels = [int(c) for c in config.get("block_out_channels", (64,))]
    if len(channels) < 2:
        raise refuse("it has a single level")
    image_channels = int(config.get("in_channels", 3))
    if image_channels != int(config.get("out_channels", 3)) or image_channels not in (1, 3):
        raise refuse(f"it maps {image_channels} to {config.get('out_channels')} channels")
    quant = bool(config.get("use_quant_conv", True))
    if quant != bool(config.get("use_post_quant_conv", True)):
        raise refuse("it has one of the two quant convs only")
    attention = attention_sizes(config, int(config.get("sample_size", 32)))
    return {"arch": "unet", "blocks": "diffusers", "latent_shape": "spatial", "decoder_output": "linear",
            "latent": int(config.get("latent_channels", 4)), "channels": channels,
            "downsample": 2 ** (len(channels) - 1),
            "num_res_blocks": int(config.get("layers_per_block", 1)),
            "norm_groups": int(config.get("norm_num_groups", 32)), "quant_conv": quant,
            "image_channels": image_channels, "attn_resolutions": attention or None}


def attention_sizes(config: dict, image_size: int) -> list[int]:
    """The feature-map sizes (px) of the AutoencoderKL's attention levels for images of `image_size`."""
    down = config.get("down_block_types", ("DownEncoderBlock2D",))
    return [image_size // 2 ** i for i, d in enumerate(down) if BLOCKS.get(d)]


def with_source_attention(cfg):
    """`cfg` (a Config whose image size is the data's) with its --init-from source's attention levels
    at that size: a source's `sample_size` is the size it was trained at, not this run's."""
    import dataclasses

    from .config import validate

    sizes = attention_sizes(read_autoencoder_config(cfg.init_from), cfg.image_size)
    return validate(dataclasses.replace(cfg, attn_resolutions=sizes or None))


def with_autoencoder_fields(settings: dict, source: str) -> dict:
    """The user's `settings` (flags over recipe) with the model fields of the AutoencoderKL at `source`;
    a field the user set to another value is refused in one line."""
    fields = fields_from_autoencoder(read_autoencoder_config(source), source)
    clashes = [f"--{k.replace('_', '-')} {settings[k]} (it has {v})" for k, v in fields.items()
               if settings.get(k) is not None and settings[k] != v]
    if clashes:
        raise ConfigError(f"--init-from {source} sets the model from its config; drop {', '.join(clashes)}")
    return {**settings, **fields}


def load_autoencoder_weights(model: UNetVAE, source: str) -> dict:
    """`model`'s weights from the AutoencoderKL at `source` (its keys are the model's). Returns the
    source's latent scale (`LATENT_KEYS`, None where it has none), which a decoder-only fine-tune keeps."""
    from diffusers import AutoencoderKL

    where, subfolder, _ = resolve_autoencoder(source)
    try:
        autoencoder = AutoencoderKL.from_pretrained(where, subfolder=subfolder)
    except (OSError, ValueError) as e:
        raise ConfigError(f"--init-from {source}: cannot read its weights ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:160]})") from None
    try:
        model.load_state_dict(autoencoder.state_dict())
    except RuntimeError as e:
        raise ConfigError(f"--init-from {source}: its weights do not fit the model its config describes "
                          f"({str(e).splitlines()[0][:160]})") from None
    return {key: autoencoder.config.get(key) for key in LATENT_KEYS}


def latent_statistics(mean: torch.Tensor, std: torch.Tensor) -> dict:
    """The latent scale (`LATENT_KEYS`) of latents with per-channel `mean` and `std` ([1, C, 1, 1]
    or [C]), agreeing under every convention it implies: z * scaling_factor (SD) and
    (z - shift_factor) * scaling_factor (SD3) have unit variance over all channels together, and
    (z - latents_mean) * scaling_factor / latents_std (SDXL) has zero mean and unit variance per channel."""
    mean, std = mean.flatten().double(), std.flatten().double()
    overall_mean = mean.mean()
    overall_var = (std.pow(2) + mean.pow(2)).mean() - overall_mean.pow(2)  # all latents together
    scale = overall_var.rsqrt()
    return {"scaling_factor": float(scale), "shift_factor": float(overall_mean), "latents_mean": mean.tolist(),
            "latents_std": (std * scale).tolist()}


def standardisation(keys: dict, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (mean, std) [C], float64, with which diffusers' pipelines turn a diffusion model's
    latents x into the VAE's: z = x * std + mean (the module docstring; `keys` as `LATENT_KEYS`,
    missing or None where unset). The learned prior standardises its latents the same way."""
    scale = keys.get("scaling_factor")
    scale = 1.0 if scale is None else float(scale)
    if keys.get("latents_mean") is not None and keys.get("latents_std") is not None:
        mean = torch.tensor(keys["latents_mean"], dtype=torch.float64)
        std = torch.tensor(keys["latents_std"], dtype=torch.float64) / scale
    else:
        mean = torch.full((channels,), float(keys.get("shift_factor") or 0.0), dtype=torch.float64)
        std = torch.full((channels,), 1.0 / scale, dtype=torch.float64)
    if mean.shape != (channels,) or std.shape != (channels,):
        raise ConfigError(f"latents_mean / latents_std name {len(mean)} / {len(std)} channels; the latent has "
                          f"{channels}")
    return mean, std


def kept_latent_scale(saved: dict) -> Optional[dict]:
    """The latent scale a training checkpoint keeps as it was: its --init-from source's when only the
    decoder trained (the encoder, so the latent space a diffusion model was trained on, is the
    source's); None when the scale is the model's own, to be measured."""
    keys = saved.get("source_latent_keys")
    return keys if keys is not None and saved["config"].get("train") == "decoder" else None


TILE_OVERLAP = 0.25  # of a tile, blended with its neighbours' (diffusers' default), rounded to whole latent px


def tile_overlap(latent_side: int, factor: int) -> float:
    """The overlap factor nearest TILE_OVERLAP at which diffusers' tiling stays on the latent grid: it
    steps int(T (1 - o)) px over the image and keeps L - int(L o) latent px of each tile (T = L x
    factor), which agree only when L o is a whole number both truncations hit (for 512 px SD tiles
    0.25 does; for a 28 px tile, 7 latent px, it does not)."""
    target = max(1, round(latent_side * TILE_OVERLAP))
    for blend in sorted(range(1, latent_side // 2 + 1), key=lambda b: abs(b - target)):
        for overlap in (blend / latent_side, math.nextafter(blend / latent_side, 1.0)):
            if (int(latent_side * overlap) == blend
                    and int(latent_side * factor * (1 - overlap)) == (latent_side - blend) * factor):
                return overlap
    raise ValueError(f"no tile overlap keeps {latent_side} latent px on the grid")


def tiling_view(model: UNetVAE) -> AutoencoderKL:
    """An AutoencoderKL made of `model`'s own modules (nothing copied) that encodes and decodes images
    larger than the model's training size in overlapping tiles of that size, blended linearly across
    the overlap (diffusers' tiling). A sigmoid decoder's logits are blended before the sigmoid."""
    from diffusers import AutoencoderKL

    with torch.device("meta"):  # its own modules are replaced at once: allocate none
        view = AutoencoderKL(**model.diffusers_config())
    view.encoder, view.decoder = model.encoder, model.decoder
    view.quant_conv = getattr(model, "quant_conv", None)
    view.post_quant_conv = getattr(model, "post_quant_conv", None)
    view.enable_tiling()
    view.tile_sample_min_size = model.diffusers_config()["sample_size"]
    view.tile_latent_min_size = model.bottom
    view.tile_overlap_factor = tile_overlap(model.bottom, model.diffusers_config()["sample_size"] // model.bottom)
    return view.eval()


def as_autoencoder_kl(model: UNetVAE, statistics: dict) -> AutoencoderKL:
    """The model as a diffusers AutoencoderKL with the same weights, in eval mode on the CPU;
    `statistics` from `latent_statistics`."""
    from diffusers import AutoencoderKL

    if not model.linear_output:
        raise ConfigError("a sigmoid decoder has no AutoencoderKL form (AutoencoderKL decodes to [-1, 1] "
                          "linearly): train with --decoder-output linear")
    autoencoder = AutoencoderKL(**model.diffusers_config(), **statistics)
    autoencoder.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
    return autoencoder.eval()
