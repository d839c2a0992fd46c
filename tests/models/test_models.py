import pytest
import torch

from vaegan.config import Config
from vaegan.models import PatchDiscriminator, build_model

SMALL = dict(channels=[8, 16, 16], attn_heads=2)
CASES = [("unet", "vector", 4, (4,)), ("unet", "spatial", 3, (3, 7, 7)),
         ("mlp", "vector", 2, (2,)), ("conv", "vector", 20, (20,))]


@pytest.mark.parametrize("arch, shape, latent, latent_dims", CASES)
def test_shapes(arch, shape, latent, latent_dims):
    model = build_model(Config(image_channels=1, image_size=28, arch=arch, latent_shape=shape, latent=latent, **SMALL))
    x = torch.rand(5, 1, 28, 28)
    out = model(x)
    assert out.logits.shape == x.shape
    assert out.mu.shape == out.logvar.shape == out.z.shape == (5, *latent_dims)
    assert model.sample_prior(3).shape == (3, *latent_dims)
    assert model.last_layer.requires_grad


@pytest.mark.parametrize("arch, shape, latent, latent_dims", CASES)
def test_decoder_output_is_a_function_of_z_alone(arch, shape, latent, latent_dims):
    """No skip connection may carry pixels past the latent: with z fixed, the input cannot matter."""
    cfg = Config(image_channels=1, image_size=28, arch=arch, latent_shape=shape, latent=latent, **SMALL)
    model = build_model(cfg).eval()
    x1, x2 = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    out1 = model(x1, sample=False)
    model(x2, sample=False)  # anything cached by an encoder pass would now belong to x2
    assert torch.allclose(model.decode(out1.mu), out1.logits, atol=1e-6)
    # And the gradient of the output w.r.t. the input flows only through z.
    x = x1.clone().requires_grad_(True)
    mu, _ = model.encode(x)
    z = mu.detach().requires_grad_(True)
    model.decode(z).sum().backward()
    assert x.grad is None and z.grad is not None


def test_reparameterization_samples_around_mu():
    model = build_model(Config(image_channels=1, image_size=28, arch="mlp", latent=2))
    x = torch.rand(1, 1, 28, 28).expand(4000, -1, -1, -1)
    out = model(x)
    std = torch.exp(0.5 * out.logvar[0]).detach()
    assert torch.allclose(out.z.mean(0).detach(), out.mu[0].detach(), atol=4 * float(std.max()) / 4000 ** 0.5 + 1e-3)
    assert torch.allclose(out.z.std(0).detach(), std, rtol=0.1)


def test_patch_discriminator_gives_a_patch_map_larger_than_2x2():
    logits = PatchDiscriminator(16)(torch.rand(2, 1, 28, 28))
    assert logits.shape[0] == 2 and logits.shape[-1] > 2 and logits.shape[-2] > 2


def _dependence(disc, logit_yx):
    """Which input pixels the logit at position logit_yx depends on (gradient support)."""
    x = torch.rand(1, 1, 28, 28, requires_grad=True)
    disc(x)[0, 0][logit_yx].backward()
    return x.grad[0, 0].abs() > 0


def test_local_patch_discriminator_logits_see_18px_patches_only():
    disc = PatchDiscriminator(8, "local")
    assert disc(torch.rand(2, 1, 28, 28)).shape == (2, 1, 7, 7)
    seen = _dependence(disc, (3, 3))
    rows, cols = seen.any(1).nonzero().flatten(), seen.any(0).nonzero().flatten()
    assert rows.max() - rows.min() + 1 == 18 and cols.max() - cols.min() + 1 == 18
    assert not _dependence(disc, (0, 0))[20:, 20:].any()  # a corner's logit ignores the far corner


def test_wide_discriminator_logits_see_the_whole_image():
    disc = PatchDiscriminator(8, "wide")
    assert disc(torch.rand(2, 1, 28, 28)).shape == (2, 1, 5, 5)
    assert _dependence(disc, (0, 0)).all()  # GroupNorm mixes every position


def test_evaluating_restores_the_previous_mode_even_after_an_error():
    from vaegan.models import evaluating

    model = build_model(Config(image_channels=1, image_size=28, arch="mlp", latent=2))
    model.train()
    with evaluating(model):
        assert not model.training
    assert model.training
    model.eval()
    try:
        with evaluating(model):
            raise ValueError
    except ValueError:
        pass
    assert not model.training
    model.train()
    try:
        with evaluating(model):
            raise ValueError
    except ValueError:
        pass
    assert model.training


def test_decode_images_is_the_sigmoid_of_the_logits_in_fp32():
    model = build_model(Config(image_channels=1, image_size=28, arch="mlp", latent=2))
    z = torch.randn(3, 2)
    images = model.decode_images(z)
    assert images.dtype == torch.float32 and torch.equal(images, torch.sigmoid(model.decode(z)))


def test_a_linear_decoder_maps_minus_one_to_one_onto_the_image_range_clamped():
    default = build_model(Config(image_channels=1, image_size=28, latent_shape="spatial", latent=3, **SMALL))
    assert not default.linear_output  # sigmoid unless asked: its reconstructions measured closer
    model = build_model(Config(image_channels=1, image_size=28, latent_shape="spatial", latent=3,
                               decoder_output="linear", recon_loss="mse", **SMALL))
    assert model.linear_output
    z = 3.0 * torch.randn(4, 3, 7, 7)
    out = model.decode(z)
    images = model.decode_images(z)
    assert torch.equal(images, ((out + 1) / 2).clamp(0, 1))
    assert ((out < -1) | (out > 1)).any()  # the clamp was exercised
    out = model(torch.rand(2, 1, 28, 28), sample=False)
    assert out.linear and torch.equal(out.recon, ((out.logits + 1) / 2).clamp(0, 1))


@pytest.mark.parametrize("size, channels", [(28, 1), (32, 3), (64, 3), (128, 1), (256, 3)])
def test_every_model_part_follows_the_image_spec(size, channels):
    from vaegan.config import with_image_spec
    from vaegan.evaluation.domain import DomainClassifier
    from vaegan.losses import LPIPS
    from vaegan.models.discriminator import receptive_field

    x = torch.rand(2, channels, size, size)
    for arch, shape in (("unet", "vector"), ("unet", "spatial"), ("mlp", "vector"), ("conv", "vector")):
        cfg = with_image_spec(Config(arch=arch, latent_shape=shape, latent=3, attn_heads=2), channels, size)
        model = build_model(cfg)
        out = model(x)
        assert out.logits.shape == x.shape, (arch, shape)
        if arch == "unet":
            bottom = size // 2 ** (len(cfg.channels) - 1)
            assert bottom <= 8 and model.latent_dims == ((3, bottom, bottom) if shape == "spatial" else (3,))
    for arch in ("local", "wide"):
        disc = PatchDiscriminator(8, arch, channels, size)
        logits = disc(x)
        assert logits.shape[:2] == (2, 1) and min(logits.shape[-2:]) >= 5  # a grid of patches, never 1x1
    assert receptive_field(PatchDiscriminator(8, "local", channels, size)) < size or size == 28
    assert LPIPS("random")(x, x.flip(0)).shape == (2,)
    assert DomainClassifier(4, image_channels=channels)(x).shape == (2, 4)


@pytest.mark.parametrize("size, downsample", [(28, 2), (64, 4), (64, 16), (256, 8)])
def test_downsample_sets_where_the_latent_lives_at_any_size(size, downsample):
    from vaegan.config import with_image_spec

    side = size // downsample
    x = torch.rand(1, 3, size, size)
    for shape, dims in (("spatial", (4, side, side)), ("vector", (4,))):
        cfg = with_image_spec(Config(latent_shape=shape, latent=4, downsample=downsample), 3, size)
        model = build_model(cfg)
        assert len(cfg.channels) == downsample.bit_length() and model.latent_dims == dims
        assert model(x).logits.shape == x.shape


def test_receptive_field_matches_the_gradient_support():
    from vaegan.models.discriminator import receptive_field

    assert receptive_field(PatchDiscriminator(8, "local")) == 18
    assert receptive_field(PatchDiscriminator(8, "wide")) == 34


@pytest.mark.parametrize("blocks, plain, at_16px", [("vaegan", 2, 4), ("diffusers", 2, 5)])
def test_attention_goes_where_asked(blocks, plain, at_16px):
    from diffusers.models.attention_processor import Attention

    from vaegan.config import with_image_spec
    from vaegan.models.blocks import SelfAttention

    def attentions(**kw):
        cfg = with_image_spec(Config(attn_heads=2, channels=[8, 16, 16, 16], blocks=blocks, **kw), 3, 64)
        return sum(isinstance(m, (SelfAttention, Attention)) for m in build_model(cfg).modules())

    assert attentions() == plain  # the mid blocks of encoder and decoder
    # plus the 16 px level on both sides: after each residual block (diffusers' decoder has two there)
    assert attentions(attn_resolutions=[16]) == at_16px


def test_the_unet_is_built_from_diffusers_blocks_and_old_checkpoints_load_into_their_own():
    """A new run's U-Net is AutoencoderKL's Encoder / Decoder; a checkpoint written by the hand-written
    U-Net (tests/fixtures, trained one epoch by that code) still loads into it and decodes as it did."""
    from pathlib import Path

    from diffusers.models.autoencoders.vae import Decoder, Encoder

    import vaegan
    from vaegan.models import HandWrittenUNetVAE, UNetVAE

    model = build_model(Config(image_channels=1, image_size=28, latent_shape="spatial", latent=3, **SMALL))
    assert isinstance(model, UNetVAE) and isinstance(model.encoder, Encoder) and isinstance(model.decoder, Decoder)
    fixtures = Path(__file__).parents[1] / "fixtures"
    old = vaegan.load(fixtures / "handwritten-unet-spatial.pt", device="cpu")
    expected = torch.load(fixtures / "handwritten-unet-spatial-outputs.pt", weights_only=True)
    assert isinstance(old.vae, HandWrittenUNetVAE) and old.config.blocks == "vaegan"
    assert old.config.decoder_output == "sigmoid" and old.config.recon_loss == "bce"
    torch.testing.assert_close(old.reconstruct(expected["images"]), expected["reconstructions"])
    torch.testing.assert_close(old.sample(2, prior="gaussian", seed=0), expected["samples"])


@pytest.mark.parametrize("side", [7, 14])
def test_upsample_computes_interpolate_then_conv_with_its_gradients(side):
    from torch.nn import functional as F

    from vaegan.models.blocks import Upsample

    torch.manual_seed(0)
    up = Upsample(8)
    x = torch.randn(3, 8, side, side, requires_grad=True)
    out = up(x)
    reference = up.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
    assert out.shape == (3, 8, 2 * side, 2 * side)
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=1e-5)
    probe = torch.randn_like(out)
    grads = torch.autograd.grad((out * probe).sum(), [x, up.conv.weight, up.conv.bias])
    expected = torch.autograd.grad((reference * probe).sum(), [x, up.conv.weight, up.conv.bias])
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    assert list(up.state_dict()) == ["conv.weight", "conv.bias"]  # checkpoints stay loadable
