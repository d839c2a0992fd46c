"""The model a run keeps and the numbers it is compared by: best.pt among the epochs that trained the
GAN, picked by a fidelity metric in one fixed feature space per dataset."""
import json

import pytest
import torch

from tests.helpers import TINY, make_idx_folder
from vaegan.checkpoint import saved_config
from vaegan.config import ConfigError, build_config
from vaegan.data import load_data
from vaegan.evaluation.domain import CACHE_VERSION, cache_dir, dataset_classifier
from vaegan.programs.train import main as train_main
from vaegan.programs.train import parse_train_args
from vaegan.trainer import Trainer


def tiny_args(data, out, *extra):
    return ["--latent", "4", "--data-dir", str(data), "--out", str(out), "--perceptual-weight", "0",
            "--no-visuals", "--wandb", "disabled", "--eval-train-images", "0", *TINY, *extra]


class Recorder:
    """A logger sink that keeps what it is given."""

    def __init__(self):
        self.summary, self.lines = {}, []

    def log_metrics(self, metrics, step): ...
    def log_media(self, media, step): ...
    def log_checkpoints(self, paths, name): ...
    def close(self): ...

    def set_summary(self, values):
        self.summary.update(values)


def test_gan_runs_pick_best_pt_by_the_validation_fd_and_never_before_the_gan(idx_dir, tmp_path):
    (cfg,) = parse_train_args(tiny_args(idx_dir, tmp_path / "run", "--use_gan", "--disc-start", "5"))
    assert cfg.best_metric == "val/domain_fd_recon"
    assert parse_train_args(tiny_args(idx_dir, tmp_path / "x"))[0].best_metric == "val/mse"
    trainer = Trainer(cfg)
    best = tmp_path / "run" / "checkpoints" / "best.pt"
    trainer.epoch, trainer.step = 1, 5  # steps 0-4 trained: the GAN starts at step 5, so not yet
    trainer._save_epoch({"val/domain_fd_recon": 1.0, "val/mse": 0.01})
    assert not best.exists()
    trainer.epoch, trainer.step = 2, 6
    trainer._save_epoch({"val/domain_fd_recon": 3.0, "val/mse": 0.05, "test/mse": 0.04})
    assert torch.load(best, weights_only=True)["epoch"] == 2
    trainer.epoch, trainer.step = 3, 7
    trainer._save_epoch({"val/domain_fd_recon": 4.0, "val/mse": 0.001})  # better MSE, worse FD: not kept
    assert torch.load(best, weights_only=True)["epoch"] == 2
    assert trainer.best == {"epoch": 2, "val/domain_fd_recon": 3.0, "val/mse": 0.05}


def test_a_run_measures_the_fidelity_metrics_and_summarises_its_kept_checkpoint(idx_dir, tmp_path):
    (cfg,) = parse_train_args(tiny_args(idx_dir, tmp_path / "run", "--use_gan", "--epochs", "2",
                                        "--prior", "gmm", "--prior-components", "2"))
    trainer = Trainer(cfg)
    sink = Recorder()
    trainer.logger.sinks.append(sink)
    trainer.fit()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(r["val/domain_fd_recon"] > 0 and r["val/domain_fd_samples"] > 0 for r in records)
    kept = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)
    record = records[kept["epoch"] - 1]
    best = {k.removeprefix("best/"): v for k, v in sink.summary.items() if k.startswith("best/")}
    assert best == {"epoch": kept["epoch"], **{k: v for k, v in record.items() if k.startswith("val/")}}


def test_the_gan_that_never_starts_is_said_before_training(idx_dir, tmp_path):
    args = tiny_args(idx_dir, tmp_path / "run", "--use_gan", "--disc-start", "1000", "--epochs", "1")
    assert train_main(args) == 0
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "the GAN never trains in this run: 1 epochs are 4 steps" in log and "--epochs 251" in log
    assert not (tmp_path / "run" / "checkpoints" / "best.pt").exists()
    assert (tmp_path / "run" / "checkpoints" / "last.pt").exists()


def test_the_quick_command_trains_the_gan_in_a_folder_of_its_own(tmp_path):
    data = make_idx_folder(tmp_path / "data", n_train=400)
    (cfg,) = parse_train_args(tiny_args(data, tmp_path / "run", "--use_gan", "--disc-start", "500",
                                        "--batch-size", "16"))
    hint = Trainer(cfg).quick_command(per_step=0.5)
    # 400 images, 40 held out: 23 steps an epoch; the GAN from the second of 3 epochs.
    assert f"--limit-train 400 --epochs 3 --disc-start 23 --out {tmp_path / 'run'}-quick" in hint
    assert "about 1 min" in hint


def test_unmeasurable_best_metrics_are_refused():
    with pytest.raises(ConfigError, match="val/lpips is never measured"):
        build_config({"best_metric": "val/lpips", "perceptual_weight": 0.0})
    with pytest.raises(ConfigError, match="vector latents only"):
        build_config({"best_metric": "val/domain_fd_samples", "latent_shape": "spatial"})


def test_one_classifier_per_dataset_whatever_the_seed_split_or_limit(idx_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("VAEGAN_CACHE", str(tmp_path / "cache"))
    base = {"data_dir": str(idx_dir), "device": "cpu"}
    runs = [build_config({**base, "seed": 0}), build_config({**base, "seed": 1, "val_images": 3, "limit_train": 40})]
    classifiers = [dataset_classifier(cfg, torch.device("cpu")) for cfg in runs]
    for (name, a), b in zip(classifiers[0].state_dict().items(), classifiers[1].state_dict().values()):
        assert torch.equal(a, b), name
    (cached,) = cache_dir().glob("classifier-*.pt")  # one file for both
    assert cached.name.startswith(f"classifier-{CACHE_VERSION}-")


def test_the_validation_images_do_not_move_with_the_seed(idx_dir):
    splits = [load_data(build_config({"data_dir": str(idx_dir), "seed": seed})) for seed in (0, 1)]
    assert torch.equal(splits[0].val.pixels, splits[1].val.pixels)
    assert torch.equal(splits[0].train.pixels, splits[1].train.pixels)
    other = load_data(build_config({"data_dir": str(idx_dir), "split_seed": 1}))
    assert not torch.equal(other.val.pixels, splits[0].val.pixels)


def test_checkpoints_from_before_the_split_seed_keep_their_held_out_images():
    assert saved_config({"seed": 3})["split_seed"] == 3
    assert saved_config({"seed": 3, "split_seed": 0})["split_seed"] == 0


def test_unlabelled_images_get_a_domain_fd_from_a_rotation_classifier(tmp_path):
    from tests.data.test_folder import write_image
    from vaegan.evaluation.domain import ValidationFidelity, features_and_logits

    for i in range(60):
        write_image(tmp_path / "photos" / f"{i}.png", (28, 28), "L", seed=i)
    cfg = build_config({"dataset": "folder", "data_dir": str(tmp_path / "photos"), "workers": 0})
    classifier = dataset_classifier(cfg, torch.device("cpu"))
    assert classifier.head.out_features == 4  # which of four rotations
    data = load_data(cfg)
    score = ValidationFidelity(classifier, data.test, 16)
    images = data.test.images
    blurred = torch.nn.functional.avg_pool2d(images, 5, 1, 2)
    assert score.fd([images]) < 1e-6 < score.fd([blurred])
    feats, _ = features_and_logits(classifier, images)
    assert feats.shape == (len(images), 128)


def test_eval_reports_the_fds_of_unlabelled_images_without_class_metrics(tmp_path):
    from tests.data.test_folder import write_image
    from vaegan.programs.eval import main as eval_main

    for i in range(40):
        write_image(tmp_path / "photos" / f"{i}.png", (28, 28), "L", seed=i)
    assert train_main(["--dataset", "folder", "--data-dir", str(tmp_path / "photos"), "--workers", "0",
                       "--out", str(tmp_path / "run"), "--latent", "4", "--epochs", "1", "--perceptual-weight", "0",
                       "--no-visuals", "--wandb", "disabled", *TINY]) == 0
    assert eval_main(["--checkpoint", str(tmp_path / "run" / "checkpoints" / "last.pt"), "--iw-samples", "0",
                      "--no-fid", "--device", "cpu", "--json", str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["test/domain_fd_recon"] > 0 and metrics["test/domain_fd_samples_gmm"] > 0
    assert not [k for k in metrics if "class" in k]


def test_the_classifiers_data_is_the_runs_own_split_when_it_has_it(idx_dir, monkeypatch):
    import vaegan.data.load as data_module
    from vaegan.data import load_whole_train

    whole_cfg, limited_cfg = (build_config({"data_dir": str(idx_dir), **extra}) for extra in ({}, {"limit_train": 40}))
    whole, limited = load_data(whole_cfg), load_data(limited_cfg)
    assert len(whole.whole_train) == 64 and limited.whole_train is None
    assert len(load_whole_train(limited_cfg, limited)) == 64  # --limit-train cut it: loaded whole

    def no_loading(*args, **kwargs):
        raise AssertionError("loaded the training images again")

    monkeypatch.setattr(data_module, "_load_train_test", no_loading)
    assert load_whole_train(whole_cfg, whole) is whole.whole_train
