"""The learned prior's training levers: depth, prediction type, min-SNR weighting, learning-rate
schedule and standardisation (vaegan.priors.diffusion and vaegan.priors.training)."""
import shutil

import pytest
import torch

import vaegan
from tests.priors.test_diffusion import FAST, call, run  # noqa: F401  (run: a fixture)
from vaegan.priors.diffusion import DiffusionPrior, build_denoiser, denoising_loss, noise_schedule, standardiser

# warm-up to step 4: the step after a resume at 3 trains at 3/4 of --lr only if the schedule resumed
LEVERS = ["--prediction", "v_prediction", "--snr-gamma", "5", "--lr-warmup", "4", "--layers", "2",
          "--standardise", "global"]


class _Zero(torch.nn.Module):
    """Predicts 0 whatever it is told: the exact v-prediction of N(0, I) latents, and a bad epsilon one."""

    def forward(self, x, t, class_labels=None):
        return torch.zeros_like(x)


def test_a_v_prediction_prior_samples_with_samplers_built_for_v():
    # For N(0, I) data, E[v | x_t] = sqrt(abar) E[eps | x_t] - sqrt(1 - abar) E[x0 | x_t] = 0: a zero
    # predictor is exact, and its draws are N(0, I). Read as epsilon, the same zeros blow the draws up.
    for sampler in ("dpm", "ddim"):
        prior = DiffusionPrior(_Zero(), torch.zeros(1, 8), torch.ones(1, 8), (8,), 16, 0, sampler=sampler,
                               prediction="v_prediction")
        draws = prior.sample(20000, torch.Generator().manual_seed(0), steps=100)
        assert draws.std().item() == pytest.approx(1.0, abs=0.02), sampler
        prior.prediction = "epsilon"
        assert prior.sample(2000, torch.Generator().manual_seed(0), steps=100).std().item() > 5
    state = DiffusionPrior(build_denoiser((8,), 16), torch.zeros(1, 8), torch.ones(1, 8), (8,), 16, 0,
                           prediction="v_prediction").state_dict()
    assert DiffusionPrior.from_state_dict(state).prediction == "v_prediction"
    assert DiffusionPrior.from_state_dict({k: v for k, v in state.items() if k != "prediction"}).prediction == "epsilon"


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_min_snr_weights_each_timestep_as_the_paper_does(prediction):
    # A zero predictor's squared error has mean 1 at every timestep (noise and v both have unit variance
    # for unit-variance latents), so the loss is the mean weight over the uniformly drawn timesteps.
    schedule = noise_schedule(prediction)
    x0 = torch.randn(200_000, 4, generator=torch.Generator().manual_seed(0))
    abar = schedule.alphas_cumprod.double()
    snr = abar / (1 - abar)
    weights = {"epsilon": snr.clamp(max=5) / snr, "v_prediction": snr.clamp(max=5) / (snr + 1)}
    weight, other = weights[prediction], weights["v_prediction" if prediction == "epsilon" else "epsilon"]
    for gamma, expected in ((0.0, 1.0), (5.0, weight.mean().item())):
        loss = denoising_loss(_Zero(), x0, schedule, torch.Generator().manual_seed(1), snr_gamma=gamma).item()
        assert loss == pytest.approx(expected, rel=0.02), (gamma, loss, expected)
    # what the assertions above tell apart: no weighting, and the other prediction type's
    assert abs(weight.mean().item() - 1) > 0.1 and abs(weight.mean().item() - other.mean().item()) > 0.1


def test_the_denoiser_takes_a_depth_and_a_third_level_and_keeps_them():
    mlp = build_denoiser((6,), 16, layers=2)
    assert len(mlp.blocks) == 2 and len(build_denoiser((6,), 16).blocks) == 4
    deep = build_denoiser((4, 7, 7), 16, layers=1, levels=3)
    config = deep.unet.config
    assert (config.layers_per_block, config.block_out_channels, config.sample_size) == (1, (16, 32, 64), 8)
    assert deep(torch.randn(3, 4, 7, 7), torch.tensor(10)).shape == (3, 4, 7, 7)
    assert build_denoiser((4, 10, 10), 16, levels=3).unet.config.sample_size == 12  # a multiple of 4
    state = DiffusionPrior(deep, torch.zeros(1, 4, 1, 1), torch.ones(1, 4, 1, 1), (4, 7, 7), 16, 0, layers=1,
                           levels=3).state_dict()
    kept = DiffusionPrior.from_state_dict(state)  # strict loading: the same architecture rebuilt
    assert (kept.layers, kept.levels) == (1, 3)


def test_global_standardisation_is_one_mean_and_std_for_every_channel():
    latents = torch.randn(500, 3, 4, 4) * torch.tensor([1.0, 2.0, 4.0]).view(1, 3, 1, 1) + 1.0
    mean, std = standardiser(latents, per_channel=False)
    assert mean.shape == std.shape == (1, 3, 1, 1)
    assert torch.allclose(mean, latents.mean().expand(1, 3, 1, 1))
    assert torch.allclose(std, latents.std().expand(1, 3, 1, 1))
    per_channel = standardiser(latents)[1].flatten()
    assert per_channel[2] / per_channel[0] > 3  # what the global one does not equalise


def test_vaegan_prior_trains_with_the_levers_and_resumes_them_exactly(run, tmp_path, capsys):  # noqa: F811
    straight = tmp_path / "straight"
    shutil.copytree(run.parents[1], straight)
    argv = [*FAST, *LEVERS, "--eval-samples", "0"]
    assert call(["--checkpoint", str(straight / "checkpoints" / "last.pt"), "--steps", "4", *argv], capsys)[0] == 0
    assert call(["--checkpoint", str(run), "--steps", "3", *argv], capsys)[0] == 0
    assert call(["--checkpoint", str(run), "--steps", "4", "--resume", *argv], capsys)[0] == 0
    a, b = (torch.load(r / "prior" / "last" / "diffusion.pt", weights_only=True) for r in (straight, run.parents[1]))
    for key, value in a["prior"]["denoiser"].items():
        assert torch.equal(value, b["prior"]["denoiser"][key]), key
    assert a["lr_schedule"]["last_epoch"] == b["lr_schedule"]["last_epoch"] == 4
    prior = vaegan.load(run, "cpu").diffusion
    assert (prior.prediction, prior.layers) == ("v_prediction", 2)
    assert torch.allclose(prior.std.flatten(), prior.std.flatten()[:1].expand(prior.std.numel()))  # global
    assert prior.sample(3, torch.Generator().manual_seed(0), steps=3).isfinite().all()


def test_a_cosine_decay_ends_at_zero_on_the_last_step(run, capsys):  # noqa: F811
    assert call(["--checkpoint", str(run), "--steps", "4", *FAST, "--lr-warmup", "1", "--lr-decay", "cosine",
                 "--eval-samples", "0"], capsys)[0] == 0
    saved = torch.load(run.parents[1] / "prior" / "last" / "diffusion.pt", weights_only=True)
    assert saved["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-12)
