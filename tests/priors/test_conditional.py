"""A class-conditional learned prior: vaegan-prior --conditional, classifier-free guidance, and the
programs that ask it for a class."""
import json
import shutil

import pytest
import torch

import vaegan
from tests.helpers import call
from vaegan.config import ConfigError
from vaegan.logger import read_metrics
from vaegan.priors.diffusion import LABEL_DROPOUT, build_denoiser, denoising_loss, guided_denoiser, noise_schedule
from vaegan.programs.eval import main as eval_main
from vaegan.programs.prior import main as prior_main
from vaegan.programs.sample import main as sample_main

FAST = ["--batch-size", "32", "--width", "64", "--sampling-steps", "3", "--eval-every", "2", "--steps", "2"]


class _LabelEcho(torch.nn.Module):
    """A 'denoiser' whose prediction is its label (the "no label" index is 10)."""

    num_classes = 10

    def forward(self, x, t, class_labels):
        return class_labels.float().view(-1, 1).expand_as(x)


def test_guidance_mixes_the_conditional_and_unconditional_predictions():
    x, t = torch.zeros(3, 4), torch.tensor(5)
    labels = torch.tensor([0, 3, 7])
    assert torch.equal(guided_denoiser(_LabelEcho(), labels, 2.5)(x, t)[:, 0], 10 + 2.5 * (labels - 10.0))
    assert torch.equal(guided_denoiser(_LabelEcho(), labels, 1.0)(x, t)[:, 0], labels.float())
    assert torch.equal(guided_denoiser(_LabelEcho(), None, 3.0)(x, t)[:, 0], torch.full((3,), 10.0))
    unconditional = build_denoiser((4,), 16)
    assert guided_denoiser(unconditional, None, 2.0) is unconditional


@pytest.mark.parametrize("dims", [(4,), (2, 7, 7)])
def test_the_denoiser_reads_the_label_and_training_drops_it_a_tenth_of_the_time(dims):
    torch.manual_seed(0)
    denoiser = build_denoiser(dims, 16, num_classes=10)
    x, t = torch.randn(4, *dims), torch.tensor([10, 200, 500, 900])
    for p in denoiser.parameters():  # a zero-initialised output layer would hide the labels
        torch.nn.init.normal_(p, std=0.1)
    assert not torch.allclose(denoiser(x, t, torch.tensor([1, 1, 1, 1])), denoiser(x, t, torch.tensor([2, 2, 2, 2])))
    seen = []
    forward = denoiser.forward
    denoiser.forward = lambda x, t, labels: seen.append(labels) or forward(x, t, labels)
    denoising_loss(denoiser, torch.randn(20000, *dims) if len(dims) == 1 else torch.randn(4000, *dims),
                   noise_schedule(), labels=torch.zeros(20000 if len(dims) == 1 else 4000, dtype=torch.long))
    dropped = (seen[0] == 10).float().mean().item()
    assert abs(dropped - LABEL_DROPOUT) < 0.02 and set(seen[0].tolist()) == {0, 10}


@pytest.fixture
def conditional_run(tiny_run, tmp_path, capsys):
    shutil.copytree(tiny_run.parents[1], tmp_path / "run")
    checkpoint = tmp_path / "run" / "checkpoints" / "last.pt"
    code, err = call(prior_main, ["--checkpoint", str(checkpoint), "--conditional", "--guidance", "2",
                                  "--eval-samples", "20", *FAST], capsys)
    assert code == 0, err
    return checkpoint


def test_a_conditional_prior_samples_the_class_asked_for_in_every_program(conditional_run, tmp_path, capsys):
    record, = read_metrics(conditional_run.parents[1] / "prior" / "last" / "metrics.jsonl")
    assert record["val/domain_fd_samples_conditional"] > 0
    assert 0 <= record["val/sample_class_match_conditional"] <= 1
    model = vaegan.load(conditional_run, "cpu")
    assert model.diffusion.class_names == [str(c) for c in range(10)] and model.diffusion.guidance == 2.0
    three = model.sample(4, label=3, seed=1)
    assert torch.equal(three, model.sample(4, label="3", seed=1))  # an index or a class name
    assert not torch.equal(three, model.sample(4, label=5, seed=1))
    assert not torch.equal(three, model.sample(4, label=3, guidance=4.0, seed=1))
    assert torch.equal(model.sample(4, label=3, guidance=2.0, seed=1), three)  # the prior's own guidance
    assert model.sample(4, label=[0, 1, 2, 3], seed=1).shape == three.shape
    code, err = call(sample_main, ["--checkpoint", str(conditional_run), "--label", "3", "--guidance", "1.5",
                                   "--num", "4", "--out", str(tmp_path / "three.png")], capsys)
    assert code == 0 and (tmp_path / "three.png").is_file(), err
    code, err = call(eval_main, ["--checkpoint", str(conditional_run), "--json", str(tmp_path / "m.json")], capsys)
    assert code == 0, err
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["test/domain_fd_samples_conditional"] > 0
    assert 0 <= metrics["test/sample_class_match_conditional"] <= 1
    for argv, message in [(["--label", "10"], "label 10 is out of range: the prior has 10 classes, 0-9"),
                          (["--label", "shoe"], "no class 'shoe'")]:
        code, err = call(sample_main, ["--checkpoint", str(conditional_run), "--out", str(tmp_path / "x.png"),
                                       *argv], capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_asking_an_unconditional_model_for_a_class_is_one_line(tiny_run, tmp_path, capsys):
    for argv in (["--label", "3"], ["--guidance", "2"]):
        code, err = call(sample_main, ["--checkpoint", str(tiny_run), "--out", str(tmp_path / "x.png"), *argv],
                         capsys)
        assert code == 2 and "needs a conditional learned prior" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(ConfigError, match="needs a conditional learned prior"):
        vaegan.load(tiny_run, "cpu").sample(2, label=1)


def test_conditional_needs_labelled_training_images(tmp_path, capsys):
    from tests.data.test_folder import write_image
    from tests.helpers import TINY
    from vaegan.programs.train import main as train_main

    for i in range(40):
        write_image(tmp_path / "photos" / f"{i}.png", (28, 28), "L", seed=i)
    assert train_main(["--dataset", "folder", "--data-dir", str(tmp_path / "photos"), "--latent", "4", "--epochs", "1",
                       "--out", str(tmp_path / "run"), "--workers", "0", "--perceptual-weight", "0", "--no-visuals",
                       "--wandb", "disabled", *TINY]) == 0
    capsys.readouterr()
    code, err = call(prior_main, ["--checkpoint", str(tmp_path / "run" / "checkpoints" / "last.pt"),
                                  "--conditional", *FAST], capsys)
    assert code == 2 and "--conditional needs labels" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run" / "prior").exists()
