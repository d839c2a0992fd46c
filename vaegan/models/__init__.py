"""Model zoo: `build_model(cfg)` and `build_discriminator(cfg)` are the only constructors."""
from __future__ import annotations

from ..config import Config
from .baselines import ConvVAE, MLPVAE
from .discriminator import PatchDiscriminator
from .unet_vae import UNetVAE
from .vae import VAE, VAEOutput, evaluating, reparameterize

__all__ = ["VAE", "VAEOutput", "evaluating", "reparameterize", "UNetVAE", "MLPVAE", "ConvVAE", "PatchDiscriminator",
           "build_model", "build_discriminator"]


def build_model(cfg: Config) -> VAE:
    if cfg.arch == "mlp":
        return MLPVAE(cfg.latent, cfg.hidden)
    if cfg.arch == "conv":
        return ConvVAE(cfg.latent, cfg.hidden)
    return UNetVAE(cfg.latent, cfg.latent_shape == "spatial", cfg.channels, cfg.num_res_blocks,
                   cfg.attn_heads)


def build_discriminator(cfg: Config) -> PatchDiscriminator:
    return PatchDiscriminator(cfg.disc_channels, cfg.disc_arch)
