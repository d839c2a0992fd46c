"""EQ-VAE's transformed pair and its term: the same transform of latent and images, the term in the
loss by its weight, gradients through the decoder only, and spatial latents only."""
import pytest
import torch
import torch.nn.functional as F

from vaegan.config import Config, ConfigError, build_config
from vaegan.losses import VAEGANLoss
from vaegan.models import build_model
from vaegan.models.vae import equivariance_pair


def test_the_pair_is_one_transform_of_latent_and_images():
    """An image made from its latent by upsampling commutes with a rotation exactly, and a
    downscale takes the image to the latent's new side times the same factor."""
    z = torch.randn(3, 2, 7, 7)
    x = F.interpolate(z, scale_factor=4, mode="nearest")
    seen = set()
    for seed in range(40):
        z_t, x_t = equivariance_pair(z, x, torch.Generator().manual_seed(seed))
        side = z_t.shape[-1]
        assert x_t.shape == (3, 2, 4 * side, 4 * side)
        if side == 7:
            assert torch.equal(F.interpolate(z_t, scale_factor=4, mode="nearest"), x_t)
            assert not torch.equal(z_t, z)
            seen.add(next(k for k in (1, 2, 3) if torch.equal(z_t, torch.rot90(z, k, (-2, -1)))))
        else:
            assert 4 <= side <= 6
            seen.add(f"scale {side}")
    assert {1, 2, 3} <= seen and any(isinstance(s, str) for s in seen)


def test_the_pair_keeps_a_bf16_latent_bf16():
    """Under bf16 autocast z is bf16; the downscale (antialiased, fp32-only on CPU) must take it."""
    z, x = torch.randn(2, 3, 7, 7, dtype=torch.bfloat16), torch.rand(2, 1, 28, 28)
    for seed in range(12):
        z_t, x_t = equivariance_pair(z, x, torch.Generator().manual_seed(seed))
        assert z_t.dtype == torch.bfloat16 and x_t.dtype == torch.float32


def tiny_spatial(**overrides) -> Config:
    return Config(image_channels=1, image_size=28, latent_shape="spatial", latent=3, channels=[8, 16, 16],
                  perceptual_weight=0.0, **overrides)


def test_the_term_enters_the_loss_by_its_weight_and_trains_only_through_the_pair():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 28, 28)
    model = build_model(tiny_spatial())
    out = model(x, equivariance=True)
    assert out.eq_logits.shape == out.eq_target.shape and out.eq_target.shape[-1] in (16, 20, 24, 28)
    (without, logs0), (with_eq, logs2) = (VAEGANLoss.from_config(tiny_spatial(eq_weight=w)).generator_loss(
        x, out, 0, model.last_layer) for w in (0.0, 2.0))
    assert "eq" not in logs0 and logs2["eq"] > 0
    assert torch.allclose(with_eq - without, 2.0 * logs2["eq"], rtol=1e-4)
    difference = with_eq - without
    assert torch.autograd.grad(difference, out.eq_logits, retain_graph=True)[0].abs().sum() > 0
    on_recon = torch.autograd.grad(difference, out.logits, retain_graph=True, allow_unused=True)[0]
    assert on_recon is None or on_recon.abs().max() < 1e-6


def test_a_vector_latent_is_refused():
    with pytest.raises(ConfigError, match="--eq-weight needs a spatial latent"):
        build_config({"eq_weight": 1.0})
    assert build_config({"eq_weight": 1.0, "latent_shape": "spatial"}).eq_weight == 1.0
