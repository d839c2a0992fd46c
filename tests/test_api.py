import re

import pytest
import torch

import vaegan
from tests.helpers import ROOT
from vaegan.checkpoint import inference_weights, load_checkpoint
from vaegan.config import Config, ConfigError
from vaegan.models import build_model
from vaegan.priors.mixture import GaussianMixturePrior


def reference(checkpoint):
    """The model and prior built by hand from the checkpoint's EMA weights."""
    saved = load_checkpoint(checkpoint)
    model = build_model(Config(**saved["config"]))
    model.load_state_dict(inference_weights(saved))
    return model.eval(), GaussianMixturePrior.from_state_dict(saved["prior"])


def test_load_gives_an_eval_mode_model_with_the_ema_weights(tiny_run):
    model = vaegan.load(tiny_run, device="cpu")
    ref, prior = reference(tiny_run)
    assert not model.vae.training and model.latent_dims == (4,)
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(model.encode(x), ref.encode(x)[0], atol=1e-6)
        assert torch.allclose(model.reconstruct(x), torch.sigmoid(ref.decode(ref.encode(x)[0])), atol=1e-6)
        z = prior.sample(6, torch.Generator().manual_seed(2))
        assert torch.allclose(model.sample(6, prior="gmm", seed=2), torch.sigmoid(ref.decode(z)), atol=1e-6)
    assert torch.equal(model.latents(3, "auto", seed=1), model.latents(3, "gmm", seed=1))
    saved, loaded = load_checkpoint(tiny_run), model.vae.state_dict()
    assert all(torch.equal(v, saved["ema"]["module." + k]) for k, v in loaded.items())
    assert not all(torch.equal(v, saved["model"][k]) for k, v in loaded.items())  # EMA != raw weights


def test_temperature_scales_the_prior_noise(tiny_run):
    model = vaegan.load(tiny_run, device="cpu")
    assert torch.allclose(model.latents(4, "gaussian", 0.5, seed=3),
                          0.5 * torch.randn((4, 4), generator=torch.Generator().manual_seed(3)))
    at_zero = model.latents(200, "gmm", 0.0, seed=3)
    assert all(any(torch.allclose(z, m, atol=1e-5) for m in model.prior.means) for z in at_zero)


def test_interpolation_starts_and_ends_at_the_reconstructions(tiny_run):
    model = vaegan.load(tiny_run, device="cpu")
    a, b = torch.rand(2, 1, 28, 28)
    path = model.interpolate(a, b, steps=5)
    assert path.shape == (5, 1, 28, 28)
    assert torch.allclose(path[0], model.reconstruct(a[None])[0], atol=1e-5)
    assert torch.allclose(path[-1], model.reconstruct(b[None])[0], atol=1e-5)


def test_a_model_without_a_mixture_refuses_gmm_in_one_line(tiny_run):
    model = vaegan.load(tiny_run, device="cpu")
    model.prior = None
    with pytest.raises(ConfigError, match="no fitted mixture prior"):
        model.sample(2, prior="gmm")


def test_the_readme_snippet_runs(tiny_run, tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"<!-- api-snippet -->\s*```python\n(.*?)```", readme, re.S).group(1)
    checkpoint = re.search(r'vaegan\.load\("([^"]+)"\)', snippet).group(1)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(snippet.replace(checkpoint, str(tiny_run)), namespace)
    assert namespace["samples"].shape == (16, 1, 28, 28)


def test_a_gan_checkpoint_from_before_the_swd_and_d_feature_keys_loads_with_them_off(tmp_path):
    from vaegan.checkpoint import config_from_checkpoint

    config = config_from_checkpoint({"use_gan": True, "latent": 4}, tmp_path / "old.pt")
    assert (config.swd_weight, config.disc_feature_weight) == (0.0, 0.0)
    assert config.best_metric == "val/mse"  # what such runs picked best.pt by, not the GAN default


def test_load_reaches_no_command_line_module(tiny_run):
    """The library side (vaegan.load, sampling) never imports a program's command line."""
    import subprocess
    import sys

    programs = ["vaegan.programs.train", "vaegan.programs.prior", "vaegan.programs.eval", "vaegan.programs.sample",
                "vaegan.programs.export"]
    code = (f"import sys, vaegan; m = vaegan.load({str(tiny_run)!r}, 'cpu'); m.sample(2); "
            f"print([name for name in {programs!r} if name in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "[]"
