import io

import pytest
import torch

from vaegan.config import Config
from vaegan.models import build_model
from vaegan.priors.mixture import GaussianMixturePrior, sample_latents


def two_clusters(n=2000):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, 3, generator=g) * 0.1 + torch.tensor([4.0, 0.0, 0.0])
    b = torch.randn(n, 3, generator=g) * 0.5 + torch.tensor([-4.0, 1.0, 0.0])
    return torch.cat([a, b])


def test_mixture_recovers_two_separated_clusters_and_samples_them():
    prior = GaussianMixturePrior.fit(two_clusters(), components=2)
    z = prior.sample(4000, torch.Generator().manual_seed(1))
    assert z.shape == (4000, 3)
    left, right = z[z[:, 0] < 0], z[z[:, 0] > 0]
    assert len(left) == pytest.approx(2000, rel=0.1)
    assert torch.allclose(right.mean(0), torch.tensor([4.0, 0.0, 0.0]), atol=0.05)
    assert torch.allclose(left.std(0), torch.full((3,), 0.5), rtol=0.1)
    assert not (z[:, 0].abs() < 2).any()  # nothing in the hole between the clusters, unlike N(0, I)


def test_mixture_samples_are_reproducible_and_survive_a_weights_only_round_trip():
    prior = GaussianMixturePrior.fit(two_clusters(200).reshape(400, 3, 1, 1), components=3)
    buffer = io.BytesIO()
    torch.save(prior.state_dict(), buffer)
    buffer.seek(0)
    loaded = GaussianMixturePrior.from_state_dict(torch.load(buffer, weights_only=True))
    a = prior.sample(10, torch.Generator().manual_seed(5))
    b = loaded.sample(10, torch.Generator().manual_seed(5))
    assert a.shape == (10, 3, 1, 1) and torch.equal(a, b)


def test_sample_latents_uses_the_prior_it_is_given():
    model = build_model(Config(image_channels=1, image_size=28, arch="mlp", latent=3))
    prior = GaussianMixturePrior.fit(two_clusters(), components=2)
    assert (sample_latents(model, 100, prior)[:, 0].abs() > 2).all()
    assert sample_latents(model, 100).abs().max() < 10  # N(0, I)


def test_training_stores_the_mixture_and_eval_samples_it_with_the_ema_weights(tiny_run, tmp_path, capsys):
    import numpy as np

    from vaegan.checkpoint import load_checkpoint
    from vaegan.programs.eval import main as eval_main

    saved = load_checkpoint(tiny_run)
    assert saved["prior"]["means"].shape == (2, 4) and saved["ema"] is not None
    samples = tmp_path / "s.npy"
    assert eval_main(["--checkpoint", str(tiny_run), "--iw-samples", "0", "--no-fid", "--save-samples",
                      str(samples), "--num-samples", "6", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    for key in ("test/domain_fd_samples ", "test/domain_fd_samples_gmm", "test/sample_class_entropy ",
                "test/sample_class_entropy_gmm"):
        assert key in out
    model = build_model(Config(**{**saved["config"], "latent": 4}))
    ema = {k.removeprefix("module."): v for k, v in saved["ema"].items() if k.startswith("module.")}
    model.load_state_dict(ema)
    z = GaussianMixturePrior.from_state_dict(saved["prior"]).sample(6, torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = torch.sigmoid(model.eval().decode(z))[:, 0].numpy()
    assert np.allclose(np.load(samples), expected, atol=1e-5)


def test_the_stored_mixture_is_fitted_on_the_ema_models_posterior_means_of_the_training_images(tiny_run):
    from vaegan.checkpoint import inference_weights, load_checkpoint
    from vaegan.config import build_config
    from vaegan.data import load_data
    from vaegan.device import autocast, resolve_precision

    saved = load_checkpoint(tiny_run)
    train = load_data(build_config(saved["config"])).train  # the training images, the validation split held out
    images = train.get(torch.arange(len(train)))  # float [N, 1, 28, 28] in [0, 1], as training reads them
    model = build_model(Config(**saved["config"])).eval()

    def code_mean(weights):
        model.load_state_dict(weights)
        cpu = torch.device("cpu")
        with torch.no_grad(), autocast(cpu, resolve_precision("auto", cpu)):  # as the trainer encoded them
            return model.encode(images)[0].float().mean(0)

    prior = GaussianMixturePrior.from_state_dict(saved["prior"])
    # An EM fit keeps the data's mean: sum_k w_k mu_k is the mean of what it was fitted on.
    fitted_mean = prior.weights @ prior.means
    assert torch.allclose(fitted_mean, code_mean(inference_weights(saved)), atol=1e-4)
    assert not torch.allclose(fitted_mean, code_mean(saved["model"]), atol=1e-2)


def test_eval_gaussian_prior_draws_from_n01(tiny_run, tmp_path, capsys):
    import numpy as np

    from vaegan.checkpoint import inference_weights, load_checkpoint
    from vaegan.programs.eval import main as eval_main

    samples = tmp_path / "s.npy"
    assert eval_main(["--checkpoint", str(tiny_run), "--iw-samples", "0", "--no-fid", "--no-fidelity",
                      "--save-samples", str(samples), "--num-samples", "5", "--prior", "gaussian"]) == 0
    saved = load_checkpoint(tiny_run)
    model = build_model(Config(**saved["config"]))
    model.load_state_dict(inference_weights(saved))
    with torch.no_grad():
        expected = torch.sigmoid(model.eval().decode(torch.randn((5, 4), generator=torch.Generator().manual_seed(0))))
    assert np.allclose(np.load(samples), expected[:, 0].numpy(), atol=1e-5)


def test_eval_defaults_on_a_cpu_skip_the_expensive_parts_and_help_is_fast(tiny_run, capsys):
    import subprocess
    import sys

    from tests.helpers import ROOT
    from vaegan.programs.eval import main as eval_main

    probe = "import sys, runpy; sys.argv = ['eval.py', '--help']\n" \
            "try:\n    runpy.run_path('eval.py', run_name='__main__')\n" \
            "except SystemExit:\n    pass\nprint('TORCH' if 'torch' in sys.modules else 'LIGHT')"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip().endswith("LIGHT")  # --help imports no torch (4.7 s before, 0.14 s now)
    assert eval_main(["--checkpoint", str(tiny_run), "--no-fidelity", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "test/mse" in out and "nll_iw" not in out and "fid_" not in out
