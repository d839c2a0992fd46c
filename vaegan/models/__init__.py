"""Model zoo: `build_model(cfg)` and `build_discriminator(cfg)` are the only constructors."""
from __future__ import annotations

from torch import nn

from ..config import Config
from .baselines import MLPVAE, ConvVAE
from .discriminator import LatentDiscriminator, PatchDiscriminator
from .handwritten_unet import HandWrittenUNetVAE
from .unet_vae import UNetVAE
from .vae import VAE, VAEOutput, evaluating, lerp_latents, reparameterize, to_images

__all__ = ["VAE", "VAEOutput", "evaluating", "lerp_latents", "reparameterize", "to_images", "UNetVAE",
           "HandWrittenUNetVAE", "MLPVAE", "ConvVAE", "PatchDiscriminator", "LatentDiscriminator", "build_model",
           "build_discriminator", "build_latent_discriminator", "trainable_parameters"]


def _spec(cfg: Config) -> tuple[int, int]:
    if cfg.image_channels is None or cfg.image_size is None:
        raise ValueError("the config has no image spec yet: build models from with_image_spec(cfg, ...)")
    return cfg.image_channels, cfg.image_size


def build_model(cfg: Config) -> VAE:
    channels, size = _spec(cfg)
    spatial, attention = cfg.latent_shape == "spatial", cfg.attn_resolutions or ()
    if cfg.arch == "mlp":
        model: VAE = MLPVAE(cfg.latent, cfg.hidden, channels, size)
    elif cfg.arch == "conv":
        model = ConvVAE(cfg.latent, cfg.hidden, channels, size)
    elif cfg.blocks == "vaegan":
        model = HandWrittenUNetVAE(cfg.latent, spatial, cfg.channels, cfg.num_res_blocks, cfg.attn_heads,
                                   channels, size, attention)
    else:
        model = UNetVAE(cfg.latent, spatial, cfg.channels, cfg.num_res_blocks, channels, size, attention,
                        cfg.norm_groups, cfg.quant_conv)
    model.linear_output = cfg.decoder_output == "linear"
    return model


ENCODER_PARTS = ("encoder", "quant_conv", "to_moments")  # what maps images to the posterior


def trainable_parameters(model: VAE, train: str) -> list[nn.Parameter]:
    """The parameters the optimizer updates: all (`train` "all"), or all but the encoder's, which are
    frozen (`train` "decoder": the latent space stays the one the model came with)."""
    if train == "decoder":
        for name in ENCODER_PARTS:
            part = getattr(model, name, None)
            if part is not None:
                part.requires_grad_(False)
    return [p for p in model.parameters() if p.requires_grad]


def build_discriminator(cfg: Config) -> PatchDiscriminator:
    channels, size = _spec(cfg)
    return PatchDiscriminator(cfg.disc_channels, cfg.disc_arch, channels, size)


def build_latent_discriminator(cfg: Config) -> LatentDiscriminator:
    return LatentDiscriminator(cfg.latent)
