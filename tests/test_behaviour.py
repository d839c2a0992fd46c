"""Behaviours nothing else pins down: the GAN learns, metrics match hand computations, best.pt's
direction, gradient clipping, AdamW's decay, the GIF hold and stale-frame cleanup."""
import pytest
import torch

from tests.helpers import TINY
from vaegan.programs.train import parse_train_args
from vaegan.trainer import Trainer
from vaegan.visuals import EvolutionAssets


def tiny_trainer(idx_dir, out, *extra):
    (cfg,) = parse_train_args(["--latent", "2", "--data-dir", str(idx_dir), "--out", str(out), "--no-visuals",
                               "--perceptual-weight", "0", "--wandb", "disabled", *TINY, *extra])
    return Trainer(cfg)


def test_the_gan_learns_and_moves_the_decoder(idx_dir, tmp_path):
    trainer = tiny_trainer(idx_dir, tmp_path / "gan", "--use_gan", "--epochs", "3")
    d_before = {k: v.clone() for k, v in trainer.loss_fn.discriminator.state_dict().items()}
    metrics = trainer.fit()
    assert any(not torch.equal(v, trainer.loss_fn.discriminator.state_dict()[k]) for k, v in d_before.items())
    assert metrics["train/d_real"] > metrics["train/d_fake"]  # D tells real from reconstructed
    # The adversarial term reaches the decoder: the same step with and without it differs.
    x = trainer.train_data.get(torch.arange(16))
    out = trainer.model(x, sample=False)
    with_gan = torch.autograd.grad(trainer.loss_fn.generator_loss(x, out, 10 ** 6, trainer.model.last_layer)[0],
                                   trainer.model.last_layer, retain_graph=True)[0]
    without = torch.autograd.grad(trainer.loss_fn.generator_loss(x, out, -1, trainer.model.last_layer)[0],
                                  trainer.model.last_layer)[0]
    assert not torch.allclose(with_gan, without)


class ShiftModel(torch.nn.Module):
    """Encodes an image as itself (no noise) and decodes it shifted by `delta`: known errors."""

    linear_output = False

    def __init__(self, delta: float):
        super().__init__()
        self.delta = delta
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def encode(self, x):
        return x, torch.full_like(x, -30.0)

    def decode(self, z):
        return torch.logit((z + self.delta).clamp(1e-6, 1 - 1e-6))

    def decode_images(self, z):
        return torch.sigmoid(self.decode(z).float())


def test_pixel_metrics_match_a_hand_computation():
    from vaegan.config import Config
    from vaegan.data import ImageSplit
    from vaegan.evaluation.metrics import split_metrics
    from vaegan.losses import VAEGANLoss

    pixels = torch.randint(50, 200, (40, 1, 16, 16), dtype=torch.uint8)  # stays in (0, 1) after the shift
    split = ImageSplit(pixels, torch.zeros(40, dtype=torch.long), ["x"])
    loss_fn = VAEGANLoss.from_config(Config(image_channels=1, image_size=16, perceptual_weight=0.0, recon_loss="mse"))
    shifted = split_metrics(ShiftModel(0.1), loss_fn, split, 16, "test")
    assert shifted["test/mse"] == pytest.approx(0.01, rel=1e-4)
    assert shifted["test/psnr"] == pytest.approx(20.0, abs=1e-3)  # 10 log10(1 / 0.01)
    exact = split_metrics(ShiftModel(0.0), loss_fn, split, 16, "test")
    assert exact["test/mse"] == pytest.approx(0.0, abs=1e-10) and exact["test/ssim"] == pytest.approx(1.0, abs=1e-5)
    assert shifted["test/ssim"] < 1.0


def test_classifier_accuracy_and_domain_fd_on_known_inputs():
    from vaegan.data import ImageSplit
    from vaegan.evaluation.domain import DomainClassifier, fidelity_metrics

    torch.manual_seed(0)
    classifier = DomainClassifier(2, image_channels=1).eval()
    pixels = torch.randint(0, 256, (30, 1, 28, 28), dtype=torch.uint8)
    images = pixels.float() / 255
    with torch.no_grad():
        predicted = classifier(images).argmax(1)
    labels = predicted.clone()
    labels[:6] = 1 - labels[:6]  # 6 of 30 wrong on purpose
    test = ImageSplit(pixels, labels, ["a", "b"])
    metrics = fidelity_metrics(classifier, test, images, {"": images})
    assert metrics["test/classifier_acc"] == pytest.approx(24 / 30)
    assert metrics["test/recon_class_acc"] == pytest.approx(24 / 30)
    assert metrics["test/domain_fd_recon"] == pytest.approx(0.0, abs=1e-6)  # identical sets


@pytest.mark.parametrize("metric, values, best_epoch", [("val/psnr", [10.0, 12.0, 11.0], 2),
                                                        ("val/mse", [0.3, 0.1, 0.2], 2),
                                                        ("val/ssim", [0.5, 0.4, 0.9], 3)])
def test_best_pt_follows_the_validation_metric_and_ignores_the_test_split(idx_dir, tmp_path, metric, values,
                                                                          best_epoch):
    trainer = tiny_trainer(idx_dir, tmp_path / "best", "--best-metric", metric)
    test_metric = metric.replace("val/", "test/")
    for epoch, value in enumerate(values, 1):
        trainer.epoch = epoch
        trainer._save_epoch({metric: value, test_metric: values[-epoch]})  # the test split disagrees
    best = torch.load(tmp_path / "best" / "checkpoints" / "best.pt", weights_only=False)
    assert (best["epoch"], best["best"]) == (best_epoch, max(values) if metric != "val/mse" else min(values))


def test_best_metric_is_a_validation_metric_and_a_run_evaluates_the_held_out_images(idx_dir, tmp_path):
    from vaegan.logger import read_metrics

    with pytest.raises(SystemExit):
        parse_train_args(["--best-metric", "test/mse"])
    tiny_trainer(idx_dir, tmp_path / "v", "--epochs", "1").fit()
    (record,) = read_metrics(tmp_path / "v" / "metrics.jsonl")
    assert {"val/mse", "test/mse"} <= set(record)
    assert (tmp_path / "v" / "checkpoints" / "best.pt").is_file()
    tiny_trainer(idx_dir, tmp_path / "none", "--epochs", "1", "--val-images", "0").fit()
    (record,) = read_metrics(tmp_path / "none" / "metrics.jsonl")
    assert "val/mse" not in record and not (tmp_path / "none" / "checkpoints" / "best.pt").exists()


def test_grad_clip_bounds_the_update_gradient(idx_dir, tmp_path):
    trainer = tiny_trainer(idx_dir, tmp_path / "clip", "--grad-clip", "0.001")
    assert trainer.train_step(trainer.train_data.get(torch.arange(16)), 16) is not None
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in trainer.model.parameters()]))
    assert norm <= 0.001 * (1 + 1e-4)


def test_adamw_decays_weights_that_get_no_gradient(idx_dir, tmp_path):
    from vaegan.optim import make_optimizer

    (cfg,) = parse_train_args(["--optimizer", "adamw", "--weight-decay", "0.1", "--lr", "0.01"])
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = make_optimizer(cfg, [weight], cfg.lr)
    assert isinstance(optimizer, torch.optim.AdamW)
    weight.grad = torch.zeros(3)
    optimizer.step()
    assert torch.allclose(weight.detach(), torch.full((3,), 1 - 0.01 * 0.1))  # decoupled decay alone


def test_gif_holds_the_last_frame_and_a_resume_drops_stale_frames(idx_dir, tmp_path):
    from PIL import Image

    args = ["--latent", "2", "--data-dir", str(idx_dir), "--out", str(tmp_path / "g"), "--perceptual-weight", "0",
            "--wandb", "disabled", *TINY]
    (cfg,) = parse_train_args([*args, "--epochs", "2"])
    Trainer(cfg, [EvolutionAssets(cfg)]).fit()
    folder = tmp_path / "g" / "assets" / "latent_2"
    with Image.open(folder / "samples_evolution.gif") as gif:
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    assert durations == [500, 2000]
    # Frames of an epoch the checkpoint never reached (a crash after writing them) go on resume.
    (folder / "frames" / "samples_0007.png").write_bytes((folder / "frames" / "samples_0002.png").read_bytes())
    (cfg,) = parse_train_args([*args, "--epochs", "3", "--resume"])
    Trainer(cfg, [EvolutionAssets(cfg)]).fit()
    assert not (folder / "frames" / "samples_0007.png").exists()
    assert sorted(p.name for p in (folder / "frames").glob("samples_*.png")) == \
        ["samples_0001.png", "samples_0002.png", "samples_0003.png"]


class SummarySink:
    def __init__(self):
        self.summary = None

    def log_metrics(self, metrics, step): ...
    def log_media(self, media, step): ...
    def log_checkpoints(self, paths, name): ...
    def close(self): ...

    def set_summary(self, values):
        self.summary = values


def test_the_best_summary_is_the_kept_checkpoints_validation_record_across_a_resume(idx_dir, tmp_path):
    from vaegan.logger import read_metrics

    tiny_trainer(idx_dir, tmp_path / "s", "--epochs", "1", "--best-metric", "val/rec").fit()
    trainer = tiny_trainer(idx_dir, tmp_path / "s", "--epochs", "3", "--best-metric", "val/rec", "--resume")
    sink = SummarySink()
    trainer.logger.sinks.append(sink)
    trainer.fit()
    records = read_metrics(tmp_path / "s" / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1, 2, 3]
    kept = min(records, key=lambda r: r["val/rec"])
    assert torch.load(tmp_path / "s" / "checkpoints" / "best.pt", weights_only=True)["epoch"] == kept["epoch"]
    best = {k.removeprefix("best/"): v for k, v in sink.summary.items() if k.startswith("best/")}
    assert best == {"epoch": kept["epoch"], **{k: v for k, v in kept.items() if k.startswith("val/")}}


def test_a_resume_with_another_best_metric_compares_on_the_new_metric(idx_dir, tmp_path):
    """best.pt's bar becomes the kept epoch's value of the new metric, not the old metric's value
    (a PSNR of ~15 as the bar of an SSIM, at most 1, would never be beaten)."""
    from vaegan.logger import read_metrics

    tiny_trainer(idx_dir, tmp_path / "s", "--epochs", "1", "--best-metric", "val/psnr").fit()
    trainer = tiny_trainer(idx_dir, tmp_path / "s", "--epochs", "2", "--best-metric", "val/ssim", "--resume")
    assert trainer.best["val/ssim"] == read_metrics(tmp_path / "s" / "metrics.jsonl")[0]["val/ssim"]
    assert "best.pt was picked by val/psnr; from now on by val/ssim" in (tmp_path / "s" / "log.txt").read_text()
