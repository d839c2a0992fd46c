"""Model zoo: `build_model(cfg)` and `build_discriminator(cfg)` are the only constructors."""
from __future__ import annotations

from ..config import Config
from .baselines import MLPVAE, ConvVAE
from .discriminator import LatentDiscriminator, PatchDiscriminator
from .unet_vae import UNetVAE
from .vae import VAE, VAEOutput, evaluating, lerp_latents, reparameterize

__all__ = ["VAE", "VAEOutput", "evaluating", "lerp_latents", "reparameterize", "UNetVAE", "MLPVAE", "ConvVAE",
           "PatchDiscriminator", "LatentDiscriminator", "build_model", "build_discriminator",
           "build_latent_discriminator"]


def _spec(cfg: Config) -> tuple[int, int]:
    if cfg.image_channels is None or cfg.image_size is None:
        raise ValueError("the config has no image spec yet: build models from with_image_spec(cfg, ...)")
    return cfg.image_channels, cfg.image_size


def build_model(cfg: Config) -> VAE:
    channels, size = _spec(cfg)
    if cfg.arch == "mlp":
        return MLPVAE(cfg.latent, cfg.hidden, channels, size)
    if cfg.arch == "conv":
        return ConvVAE(cfg.latent, cfg.hidden, channels, size)
    return UNetVAE(cfg.latent, cfg.latent_shape == "spatial", cfg.channels, cfg.num_res_blocks,
                   cfg.attn_heads, channels, size, cfg.attn_resolutions or ())


def build_discriminator(cfg: Config) -> PatchDiscriminator:
    channels, size = _spec(cfg)
    return PatchDiscriminator(cfg.disc_channels, cfg.disc_arch, channels, size)


def build_latent_discriminator(cfg: Config) -> LatentDiscriminator:
    return LatentDiscriminator(cfg.latent)
