import math

import numpy as np
import pytest
import torch

from tests.helpers import TINY
from vaegan.config import Config
from vaegan.evaluation.metrics import elbo, importance_weighted_bound, log_px_given_z
from vaegan.models import build_model
from vaegan.programs.eval import main as eval_main
from vaegan.programs.train import main as train_main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained for a few steps, so the posterior is not the prior."""
    from tests.helpers import make_idx_folder

    root = tmp_path_factory.mktemp("lik")
    data = make_idx_folder(root / "data")
    assert train_main(["--latent", "4", "--data-dir", str(data), "--out", str(root / "run"), "--epochs", "3",
                       "--perceptual-weight", "0", "--no-visuals", "--wandb", "disabled", *TINY]) == 0
    return root, data


def test_likelihoods_match_their_closed_forms():
    x, logits = torch.rand(2, 1, 28, 28), torch.randn(2, 1, 28, 28)
    p = torch.sigmoid(logits)
    bernoulli = (x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)
    assert torch.allclose(log_px_given_z("bce", logits, x), bernoulli, atol=1e-3)
    gauss = torch.distributions.Normal(p, math.sqrt(0.5)).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(log_px_given_z("mse", logits, x), gauss, atol=1e-3)
    laplace = torch.distributions.Laplace(p, 1.0).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(log_px_given_z("l1", logits, x), laplace, atol=1e-3)


def load(root):
    state = torch.load(root / "run" / "checkpoints" / "last.pt", weights_only=False)
    model = build_model(Config(**state["config"]))
    model.load_state_dict(state["model"])
    return model.eval()


@pytest.mark.slow
def test_iw_bound_is_above_the_elbo_and_tightens_with_k(trained):
    root, data = trained
    model = load(root)
    from vaegan.data import load_split

    x = load_split(data, "test").images
    torch.manual_seed(0)
    elbo_mean = elbo(model, x, "bce", samples=100).mean()
    bounds = {k: torch.stack([importance_weighted_bound(model, x, "bce", k).mean() for _ in range(5)])
              for k in (1, 10, 100)}
    # K = 1 is an unbiased ELBO estimate; larger K is a tighter (higher) bound on log p(x).
    assert abs(bounds[1].mean() - elbo_mean) < 4 * bounds[1].std() + 0.5
    assert bounds[10].mean() > bounds[1].mean() and bounds[100].mean() > bounds[10].mean()
    assert bounds[100].min() > elbo_mean


def test_save_recon_keeps_the_test_order_and_shape(trained, tmp_path, capsys):
    root, data = trained
    recon, samples = tmp_path / "recon.npy", tmp_path / "samples.npy"
    assert eval_main(["--checkpoint", str(root / "run" / "checkpoints" / "last.pt"), "--n", "12",
                      "--iw-samples", "5", "--save-recon", str(recon), "--save-samples", str(samples),
                      "--num-samples", "7", "--json", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "test/nll_iw" in out and "Bernoulli" in out
    for key in ("test/domain_fd_recon", "test/domain_fd_samples", "test/recon_class_acc"):
        assert key in out
    r, s = np.load(recon), np.load(samples)
    assert r.shape == (12, 28, 28) and s.shape == (7, 28, 28) and r.dtype == s.dtype == np.float32
    assert 0 <= r.min() and r.max() <= 1
    # Order: each saved reconstruction is the one of the test image at the same index.
    model = load(root)
    from vaegan.data import load_split

    x = load_split(data, "test", limit=12).images
    with torch.no_grad():
        expected = torch.sigmoid(model.decode(model.encode(x.flip(0))[0])).flip(0)[:, 0].numpy()
    assert np.allclose(r, expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["bce", "mse", "l1"])
def test_epoch_metrics_report_the_same_elbo_as_the_likelihood_module(trained, kind):
    """metrics.evaluate (per epoch, one posterior sample) and likelihood.elbo (many samples) agree
    for every likelihood, normalising constant included (448 nats for mse, 543 for l1)."""
    from vaegan.data import load_split
    from vaegan.evaluation.metrics import split_metrics
    from vaegan.losses import VAEGANLoss

    root, data = trained
    model = load(root)
    test = load_split(data, "test")
    cfg = Config(image_channels=1, image_size=28, recon_loss=kind, perceptual_weight=0.0)
    neg_elbo = split_metrics(model, VAEGANLoss.from_config(cfg), test, 50, "test")["test/neg_elbo"]
    torch.manual_seed(0)
    reference = -elbo(model, test.images, kind, samples=100).mean().item()
    assert abs(neg_elbo - reference) < 1.0, (neg_elbo, reference)


class PriorPosteriorModel(torch.nn.Module):
    """q(z|x) = p(z) = N(0, I) and a decoder that ignores z: every importance weight is p(x|z) = const."""

    latent_dims = (3,)
    linear_output = False

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits

    def encode(self, x):
        zeros = torch.zeros(len(x), 3)
        return zeros, zeros

    def decode(self, z):
        return self.logits.expand(len(z), *self.logits.shape)


@pytest.mark.parametrize("kind", ["bce", "mse", "l1"])
def test_iw_bound_equals_the_elbo_exactly_when_the_weights_are_constant(kind):
    from vaegan.evaluation.metrics import log_px_given_z

    torch.manual_seed(0)
    x = torch.rand(4, 1, 6, 6)
    model = PriorPosteriorModel(torch.randn(1, 6, 6))
    exact = log_px_given_z(kind, model.decode(torch.zeros(4, 3)), x)
    for k in (1, 7, 100):
        assert torch.allclose(importance_weighted_bound(model, x, kind, k), exact, atol=1e-4), k
    assert torch.allclose(elbo(model, x, kind, samples=3), exact, atol=1e-4)


def test_run_eval_leaves_its_arguments_as_given(trained):
    """The GPU-or-CPU defaults of --iw-samples and --fid are resolved inside, not written back."""
    import dataclasses

    from vaegan.evaluation.checkpoint import run_eval
    from vaegan.options import parse_options
    from vaegan.programs.eval import EvalOptions, eval_parser

    root, _ = trained
    args, _ = parse_options(EvalOptions, eval_parser(), ["--checkpoint", str(root / "run" / "checkpoints" / "last.pt"),
                                                         "--n", "8", "--no-fidelity"])
    before = dataclasses.asdict(args)
    metrics = run_eval(args)
    assert dataclasses.asdict(args) == before and args.iw_samples is None and args.fid is None
    assert "test/nll_iw" not in metrics and not any(k.startswith("test/fid") for k in metrics)  # a CPU's defaults
