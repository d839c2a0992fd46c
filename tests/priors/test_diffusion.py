"""The learned latent prior: a diffusion model trained by vaegan-prior on a trained model's latents."""
import shutil

import pytest
import torch
import yaml

import vaegan
from tests.helpers import call as call_main
from vaegan.logger import read_metrics
from vaegan.priors.diffusion import DiffusionPrior, build_denoiser, denoising_loss, noise_schedule, standardiser
from vaegan.programs.prior import main as prior_main

FAST = ["--batch-size", "32", "--width", "64", "--sampling-steps", "4", "--eval-every", "2"]  # 2 steps = 1 epoch
UNSCORED = [*FAST, "--eval-samples", "0"]  # no sample FD, so --prior auto takes the diffusion prior


def call(argv, capsys):
    return call_main(prior_main, argv, capsys)


@pytest.fixture
def run(tiny_run, tmp_path):
    """A copy of the tiny run (others use it without a diffusion prior): its last.pt."""
    shutil.copytree(tiny_run.parents[1], tmp_path / "run")
    return tmp_path / "run" / "checkpoints" / "last.pt"


class _ExactNoisePredictor(torch.nn.Module):
    """The optimal noise prediction when the standardised latents are N(0, I): E[eps | x_t] = sqrt(1 - abar_t) x_t."""

    def __init__(self):
        super().__init__()
        self.abar = noise_schedule().alphas_cumprod

    def forward(self, x, t):
        return (1 - self.abar[t.long()]).sqrt() * x


def test_sampling_keeps_the_tails_of_standardised_latents():
    # A standardised latent has a third of its values beyond +-1; a sampler that clips its clean-latent
    # estimate to [-1, 1] (diffusers' default) squeezes them in and shrinks the spread.
    mean, std = torch.full((1, 8), 2.0), torch.full((1, 8), 3.0)
    prior = DiffusionPrior(_ExactNoisePredictor(), mean, std, (8,), width=0, vae_step=0)
    # 100 steps: DDIM's discretisation shrinks a Gaussian's spread by ~5 % at 25 steps, ~1 % at 100.
    z = (prior.sample(20000, torch.Generator().manual_seed(0), steps=100) - mean) / std
    assert z.std().item() == pytest.approx(1.0, abs=0.02)
    assert (z.abs() > 1.5).float().mean().item() == pytest.approx(0.1336, abs=0.01)


def test_the_denoiser_learns_a_bimodal_latent_distribution():
    """Two clusters at -3 and +3 in every dim: its samples land on them, N(0, I) draws do not."""
    torch.manual_seed(0)
    latents = 3.0 * torch.sign(torch.randn(2048, 1)).expand(-1, 4) + 0.1 * torch.randn(2048, 4)
    mean, std = standardiser(latents)
    x0 = (latents - mean) / std
    denoiser, schedule = build_denoiser((4,), 128), noise_schedule()
    optimizer = torch.optim.Adam(denoiser.parameters(), lr=2e-3)
    for step in range(600):
        loss = denoising_loss(denoiser, x0[torch.randint(0, len(x0), (256,))], schedule)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    z = DiffusionPrior(denoiser, mean, std, (4,), 128, 0).sample(512, torch.Generator().manual_seed(0), steps=25)
    near = lambda x: ((x.abs() - 3.0).abs() < 0.75).all(1).float().mean().item()  # noqa: E731
    assert near(z) > 0.8 and near(torch.randn(512, 4) * 3) < 0.1
    same_cluster = (torch.sign(z) == torch.sign(z[:, :1])).all(1).float().mean().item()
    assert same_cluster > 0.8  # the dims move together, as in the data: not a product of marginals


def test_vaegan_prior_writes_a_run_that_every_program_finds(run, tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("steps: 4\nwidth: 48\nlr: 0.002\n")
    code, err = call(["--checkpoint", str(run), "--config", str(recipe), *FAST], capsys)  # FAST's --width wins
    assert code == 0, err
    folder = run.parents[1] / "prior" / "last"
    saved = yaml.safe_load((folder / "config.yaml").read_text())
    assert (saved["steps"], saved["width"], saved["lr"], saved["config"]) == (4, 64, 0.002, str(recipe))
    assert {"config.yaml", "log.txt", "metrics.jsonl", "samples_evolution.gif", "diffusion.pt"} <= \
        {p.name for p in folder.iterdir()}
    records = read_metrics(folder / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1, 2] and all(r["prior/loss"] > 0 for r in records)
    assert all(r["val/domain_fd_samples_diffusion"] > 0 and 0 <= r["val/sample_class_entropy_diffusion"] <= 2.31
               for r in records)  # the tiny data has labels: 1000 samples scored each epoch by default
    assert len(list((folder / "frames").glob("samples_*.png"))) == 2
    model = vaegan.load(run, "cpu")
    assert list(model.priors()) == ["gaussian", "gmm", "diffusion"]
    measured = {name: records[-1][f"val/domain_fd_samples{suffix}"] for name, suffix in
                (("diffusion", "_diffusion"), ("gmm", "_gmm"), ("gaussian", ""))}
    assert model.diffusion.sample_fd == measured  # what --prior auto chooses by, kept with the prior
    for fd, chosen in [({"diffusion": 2.0, "gmm": 3.0}, "diffusion"), ({"diffusion": 4.0, "gmm": 3.0}, "gmm"),
                       ({}, "diffusion")]:
        model.diffusion.sample_fd = fd
        assert model.resolve_prior("auto") == chosen
    a, b = (model.sample(6, prior="diffusion", seed=3, steps=4) for _ in range(2))
    assert a.shape == (6, 1, 28, 28) and torch.equal(a, b)
    assert not torch.equal(model.latents(6, "diffusion", seed=3, steps=4), model.latents(6, "gmm", seed=3))
    own = model.latents(6, "diffusion", seed=3)  # no steps named: the 4 its run sampled with (FAST)
    assert torch.equal(own, model.latents(6, "diffusion", seed=3, steps=4))
    assert not torch.equal(own, model.latents(6, "diffusion", seed=3, steps=7))


def test_vaegan_prior_resumes_exactly_and_resume_extends_the_step_budget(run, tmp_path, capsys):
    straight = tmp_path / "straight"
    shutil.copytree(run.parents[1], straight)
    assert call(["--checkpoint", str(straight / "checkpoints" / "last.pt"), "--steps", "4", *FAST], capsys)[0] == 0
    # Stopped after step 3, in the middle of the second pass over the latents (2 steps each); then extended.
    assert call(["--checkpoint", str(run), "--steps", "3", *FAST], capsys)[0] == 0
    assert call(["--checkpoint", str(run), "--steps", "4", "--resume", *FAST], capsys)[0] == 0
    a, b = (torch.load(r / "prior" / "last" / "diffusion.pt", weights_only=True)
            for r in (straight, run.parents[1]))
    assert a["step"] == b["step"] == 4
    for key, value in a["prior"]["denoiser"].items():
        assert torch.equal(value, b["prior"]["denoiser"][key]), key
    records = read_metrics(run.parents[1] / "prior" / "last" / "metrics.jsonl")
    assert [(r["step"], r["epoch"]) for r in records] == [(2, 1), (3, 1.5), (4, 2)]
    log = (run.parents[1] / "prior" / "last" / "log.txt").read_text()
    assert "training 4 steps of batch 32 (2.0 passes over the latents)" in log and "resumed from" in log


def test_bad_input_is_one_line_and_exit_2(run, tmp_path, capsys):
    assert call(["--checkpoint", str(run), "--steps", "2", *UNSCORED], capsys)[0] == 0
    code, err = call(["--checkpoint", str(run), "--steps", "2", *UNSCORED], capsys)
    assert code == 2 and "already holds a prior" in err and len(err.strip().splitlines()) == 1
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    code, err = call(["--checkpoint", str(foreign)], capsys)
    assert code == 2 and "not a vaegan training checkpoint" in err
    code, err = call(["--checkpoint", str(run), "--steps", "0"], capsys)
    assert code == 2 and "must be >= 1" in err
    for text, message in [("steps: 2\nout: x\n", "'out' is not a vaegan-prior recipe key"),
                          ("steps: 2.5\n", "'steps' must be int"), ("lr: fast\n", "'lr' must be float")]:
        (tmp_path / "bad.yaml").write_text(text)
        code, err = call(["--checkpoint", str(run), "--config", str(tmp_path / "bad.yaml")], capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_a_prior_of_an_earlier_step_is_left_out_and_trained_anew(run, tmp_path, capsys):
    assert call(["--checkpoint", str(run), "--steps", "2", *UNSCORED], capsys)[0] == 0
    state = torch.load(run, weights_only=True)  # the model trains on: its prior no longer fits it
    state["step"] += 1
    torch.save(state, run)
    with pytest.warns(UserWarning, match="train it again"):
        model = vaegan.load(run, "cpu")
    assert list(model.priors()) == ["gaussian", "gmm"] and model.resolve_prior("auto") == "gmm"
    with pytest.raises(vaegan.config.ConfigError, match="no diffusion prior"):
        model.sample(2, prior="diffusion")
    from vaegan.programs.sample import main as sample_main

    assert sample_main(["--checkpoint", str(run), "--num", "2", "--device", "cpu",
                        "--out", str(tmp_path / "s.png")]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "left out" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: ") and (tmp_path / "s.png").is_file()
    code, err = call(["--checkpoint", str(run), "--steps", "2", "--resume", *UNSCORED], capsys)
    assert code == 2 and "run without --resume" in err and len(err.strip().splitlines()) == 1
    assert call(["--checkpoint", str(run), "--steps", "2", *UNSCORED], capsys)[0] == 0
    prior = run.parents[1] / "prior" / "last"
    assert "training a new prior" in (prior / "log.txt").read_text()
    assert torch.load(prior / "diffusion.pt", weights_only=True)["vae_step"] == state["step"]
    assert [r["epoch"] for r in read_metrics(prior / "metrics.jsonl")] == [1]
    assert vaegan.load(run, "cpu").resolve_prior("auto") == "diffusion"


def test_unlabelled_data_scores_samples_without_the_class_entropy(tmp_path, capsys):
    from tests.data.test_folder import write_image
    from tests.helpers import TINY
    from vaegan.programs.train import main as train_main

    for i in range(40):  # images straight in the folder: no class sub-folders, no labels
        write_image(tmp_path / "photos" / f"{i}.png", (28, 28), "L", seed=i)
    assert train_main(["--dataset", "folder", "--data-dir", str(tmp_path / "photos"), "--latent", "4", "--epochs", "1",
                       "--out", str(tmp_path / "run"), "--workers", "0", "--perceptual-weight", "0", "--no-visuals",
                       "--wandb", "disabled", *TINY]) == 0
    capsys.readouterr()
    checkpoint = str(tmp_path / "run" / "checkpoints" / "last.pt")
    assert call(["--checkpoint", checkpoint, "--steps", "2", "--eval-samples", "10", *FAST], capsys)[0] == 0
    record, = read_metrics(tmp_path / "run" / "prior" / "last" / "metrics.jsonl")
    # The FD in the rotation classifier's features; no class entropy without classes.
    assert record["val/domain_fd_samples_diffusion"] > 0 and not [k for k in record if "entropy" in k]


def test_export_carries_the_diffusion_prior_without_pickle(run, tmp_path, capsys):
    from vaegan.programs.export import main as export_main

    assert call(["--checkpoint", str(run), "--steps", "2", *FAST], capsys)[0] == 0
    assert export_main(["--checkpoint", str(run), "--out", str(tmp_path / "exported")]) == 0
    assert (tmp_path / "exported" / "diffusion.safetensors").is_file()
    exported, original = vaegan.load(tmp_path / "exported", "cpu"), vaegan.load(run, "cpu")
    assert exported.diffusion.sample_fd == original.diffusion.sample_fd and "gmm" in exported.diffusion.sample_fd
    assert exported.diffusion.sampling_steps == original.diffusion.sampling_steps == 4
    assert exported.resolve_prior("auto") == original.resolve_prior("auto")
    draws = [m.sample(4, "diffusion", seed=1, steps=3) for m in (exported, original)]
    assert torch.equal(*draws)


def test_resume_keeps_the_saved_settings_and_refuses_other_ones(run, tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("steps: 2\nwidth: 48\nsampling_steps: 3\n")
    assert call(["--checkpoint", str(run), "--config", str(recipe), "--eval-samples", "0"], capsys)[0] == 0
    path = run.parents[1] / "prior" / "last" / "diffusion.pt"
    state = torch.load(path, weights_only=True)
    state["prior"]["mean"] += 1.0  # so that a recomputed standardisation would show
    torch.save(state, path)
    code, err = call(["--checkpoint", str(run), "--steps", "4", "--resume", "--lr", "0.01"], capsys)
    assert code == 2 and "lr: 0.001 in the prior, 0.01 now" in err and len(err.strip().splitlines()) == 1
    # Without the recipe: its width and step count are the saved ones, not the defaults.
    assert call(["--checkpoint", str(run), "--steps", "4", "--resume", "--eval-samples", "0"], capsys)[0] == 0
    resumed = torch.load(path, weights_only=True)
    assert (resumed["step"], resumed["prior"]["width"], resumed["prior"]["sampling_steps"]) == (4, 48, 3)
    assert torch.equal(resumed["prior"]["mean"], state["prior"]["mean"])
    assert yaml.safe_load((path.parent / "config.yaml").read_text())["width"] == 48


def test_the_prior_encodes_the_models_training_images_and_scores_on_its_validation_split(tmp_path, capsys):
    from tests.helpers import TINY, make_idx_folder
    from vaegan.programs.train import main as train_main

    data = make_idx_folder(tmp_path / "data", n_train=200)
    base = ["--latent", "4", "--data-dir", str(data), "--epochs", "1", "--perceptual-weight", "0", "--no-visuals",
            "--wandb", "disabled", *TINY]
    assert train_main([*base, "--limit-train", "100", "--out", str(tmp_path / "run")]) == 0
    checkpoint = str(tmp_path / "run" / "checkpoints" / "last.pt")
    assert call(["--checkpoint", checkpoint, "--steps", "2", "--eval-samples", "20", *FAST], capsys)[0] == 0
    folder = tmp_path / "run" / "prior" / "last"
    assert "prior: 90 latents" in (folder / "log.txt").read_text()  # 100 images less 10 held out
    record, = read_metrics(folder / "metrics.jsonl")
    assert "val/domain_fd_samples_diffusion" in record and not [k for k in record if k.startswith("test/")]
    assert train_main([*base, "--val-images", "0", "--out", str(tmp_path / "noval")]) == 0
    capsys.readouterr()
    checkpoint = str(tmp_path / "noval" / "checkpoints" / "last.pt")
    code, err = call(["--checkpoint", checkpoint, "--steps", "2", "--eval-samples", "20", *FAST], capsys)
    assert code == 2 and "no validation split" in err and len(err.strip().splitlines()) == 1
    assert call(["--checkpoint", checkpoint, "--steps", "2", *FAST], capsys)[0] == 0
    record, = read_metrics(tmp_path / "noval" / "prior" / "last" / "metrics.jsonl")
    assert not [k for k in record if "domain_fd" in k]


class _TimestepRecorder(_ExactNoisePredictor):
    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x, t):
        self.seen.append(int(t))
        return super().forward(x, t)


def test_ddim_samples_with_the_spacing_the_prior_keeps():
    denoiser = _TimestepRecorder()
    prior = DiffusionPrior(denoiser, torch.zeros(1, 2), torch.ones(1, 2), (2,), width=0, vae_step=0)
    prior.sample(4, steps=25)  # the default, "leading": measured closer to the data than "trailing"
    assert denoiser.seen[:2] == [960, 920] and len(denoiser.seen) == 25
    denoiser.seen.clear()
    prior.timestep_spacing = "trailing"
    prior.sample(4, steps=25)
    assert denoiser.seen[0] == 999 and len(denoiser.seen) == 25
    kept = DiffusionPrior.from_state_dict({**prior.state_dict(), "latent_dims": [2], "width": 8,
                                           "denoiser": build_denoiser((2,), 8).state_dict()})
    assert kept.timestep_spacing == "trailing"
    legacy = {k: v for k, v in kept.state_dict().items() if k != "timestep_spacing"}
    assert DiffusionPrior.from_state_dict(legacy).timestep_spacing == "leading"


def test_dpm_solver_samples_standardised_latents_and_is_kept_with_the_prior():
    """DPM-Solver++ with the exact noise predictor of N(0, I) latents draws N(0, I) too; the sampler
    round-trips through the prior's state."""

    def prior(sampler, denoiser=None):
        return DiffusionPrior(denoiser or _ExactNoisePredictor(), torch.zeros(1, 8), torch.ones(1, 8), (8,), 16, 0,
                              sampler=sampler)

    # For unit-variance data the exact probability-flow ODE is the identity, and with a noise predictor
    # linear in x every solver step is linear: the draws are c x the starting noise, c = 1 for an exact
    # solver. DPM-Solver++ (2nd order) keeps c within 1.5 % at 10 steps; DDIM loses 10 % there.
    noise = torch.randn((4000, 8), generator=torch.Generator().manual_seed(0))
    for sampler, (low, high) in (("dpm", (0.985, 1.0)), ("ddim", (0.85, 0.95))):
        draws = prior(sampler).sample(4000, torch.Generator().manual_seed(0), steps=10)
        c = (draws / noise).median()
        torch.testing.assert_close(draws, c * noise, rtol=1e-4, atol=1e-5)
        assert low < c.item() <= high, (sampler, c.item())
    state = prior("dpm", build_denoiser((8,), 16)).state_dict()
    assert DiffusionPrior.from_state_dict(state).sampler == "dpm"
    assert DiffusionPrior.from_state_dict({k: v for k, v in state.items() if k != "sampler"}).sampler == "ddim"


def test_under_fp16_the_prior_scales_its_loss_and_resumes_the_scale(run, capsys, monkeypatch):
    """fp16 autocast (a GPU without bf16) needs loss scaling, or small gradients flush to zero."""
    monkeypatch.setattr("vaegan.device.resolve_precision", lambda precision, device: torch.float16)
    assert call(["--checkpoint", str(run), "--steps", "2", *FAST, "--eval-samples", "0"], capsys)[0] == 0
    saved = torch.load(run.parents[1] / "prior" / "last" / "diffusion.pt", weights_only=True)
    assert saved["scaler"]["scale"] > 0  # an enabled scaler's state (a disabled one saves {})
    assert call(["--checkpoint", str(run), "--steps", "3", "--resume", *FAST, "--eval-samples", "0"], capsys)[0] == 0
