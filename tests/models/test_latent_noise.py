"""--latent-noise: the reconstruction decodes the latent plus noise in units of each image's latent
std, drawn per image up to the level asked for; out.z, the KL and evaluation stay clean."""
import pytest
import torch

from tests.helpers import TINY
from tests.models.test_equivariance import tiny_spatial
from vaegan.models import build_model
from vaegan.models.vae import noised_for_decoder
from vaegan.programs.train import parse_train_args
from vaegan.trainer import Trainer


def test_the_noise_is_in_units_of_each_images_own_latent_std():
    torch.manual_seed(0)
    z, unit = torch.randn(3, 2, 5, 5), torch.randn(3, 2, 5, 5)
    z[1] *= 10.0
    added = noised_for_decoder(z, unit) - z
    stds = z.flatten(1).std(dim=1)
    for i in range(3):
        assert torch.allclose(added[i], unit[i] * stds[i], atol=1e-5)
    assert torch.equal(noised_for_decoder(z, torch.zeros_like(z)), z)


def test_the_decoder_sees_the_noised_latent_and_the_output_keeps_the_clean_one():
    torch.manual_seed(0)
    model = build_model(tiny_spatial())
    x, eps = torch.rand(2, 1, 28, 28), torch.randn(2, *model.latent_dims)
    decoded = []
    original = model.decode
    model.decode = lambda z: decoded.append(z) or original(z)
    unit = torch.randn(2, *model.latent_dims)
    out = model(x, noise=eps, decoder_noise=unit)
    assert torch.allclose(decoded[0], noised_for_decoder(out.z, unit))
    clean = model(x, noise=eps)
    assert torch.equal(clean.z, out.z) and not torch.allclose(clean.logits, out.logits)
    # the std is a constant to autograd: d(decoded)/dz is the identity
    z = out.z.detach().requires_grad_()
    (grad,) = torch.autograd.grad(noised_for_decoder(z, unit).sum(), z)
    assert torch.allclose(grad, torch.ones_like(grad))


@pytest.mark.parametrize("level", [0.0, 0.5])
def test_a_training_step_noises_each_image_up_to_the_level(idx_dir, tmp_path, level):
    (cfg,) = parse_train_args(["--latent", "3", "--latent-shape", "spatial", "--latent-noise", str(level),
                               "--perceptual-weight", "0", "--no-visuals", "--wandb", "disabled", "--precision", "fp32",
                               "--data-dir", str(idx_dir), "--out", str(tmp_path / "run"), *TINY])
    trainer = Trainer(cfg)
    decoded, outputs = [], []
    original_decode, original_forward = trainer.model.decode, trainer.model.forward
    trainer.model.decode = lambda z: decoded.append(z.detach()) or original_decode(z)
    trainer.model.forward = lambda *a, **k: outputs.append(original_forward(*a, **k)) or outputs[-1]
    x = trainer.train_data.get(torch.arange(cfg.batch_size))
    assert trainer.train_step(x, cfg.batch_size) is not None
    z = outputs[0].z.detach()
    relative = (decoded[0] - z).flatten(1).std(dim=1) / z.flatten(1).std(dim=1)
    if level == 0:
        assert torch.equal(decoded[0], z)
    else:  # each image's own level: all under the bound, not all alike
        assert (relative > 0).all() and (relative < 1.3 * level).all() and relative.std() > 0.02
