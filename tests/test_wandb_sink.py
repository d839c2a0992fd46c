
from tests.helpers import TINY
from tests.wandb_records import history_keys, read_records, summary_keys
from vaegan.logger import read_metrics
from vaegan.programs.train import parse_train_args
from vaegan.trainer import train
from vaegan.wandb_sink import resolve_mode


def tiny_run(idx_dir, tmp_path, *extra):
    args = ["--latent", "2", "--epochs", "2", "--data-dir", str(idx_dir), "--out", str(tmp_path / "run"),
            "--assets-dir", str(tmp_path / "assets"), "--wandb-dir", str(tmp_path / "wb"),
            "--perceptual-weight", "0", "--use_gan", *TINY, *extra]
    (cfg,) = parse_train_args(args)
    return train(cfg)


def test_offline_run_holds_metrics_images_and_gifs(idx_dir, tmp_path):
    import wandb

    tiny_run(idx_dir, tmp_path, "--wandb", "offline", "--wandb-tags", "test,tiny")
    # run.finish() asks wandb's service to close the run's stream without waiting for it to flush the
    # run file (its log shows the stream closing after finish() returned); the service writes it
    # completely when it is torn down, as at process exit. Read it after that, not during.
    wandb.teardown()
    (run_dir,) = (tmp_path / "wb" / "wandb").glob("offline-run-*")
    (run_file,) = run_dir.glob("run-*.wandb")
    media = run_dir / "files" / "media"
    assert list((media / "images").rglob("*.png"))
    assert len(list((media / "videos").rglob("*.gif"))) == 3
    logged = history_keys(run_file)
    for record in read_metrics(tmp_path / "run" / "metrics.jsonl"):
        assert set(record) - {"epoch"} <= logged and "epoch" in logged
    assert {"media/reconstructions/path", "final/latent_evolution/path"} <= logged
    run_record = next(r.run for r in read_records(run_file) if r.WhichOneof("record_type") == "run")
    assert list(run_record.tags) == ["test", "tiny"]
    config_keys = {item.key for item in run_record.config.update}
    assert {"latent", "use_gan", "env"} <= config_keys
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "could not" not in log
    # The summary holds the final metrics and the kept checkpoint's validation values; the checkpoints
    # are a model artifact.
    assert {"test/mse", "best/epoch", "best/val/mse", "best/val/domain_fd_recon"} <= summary_keys(run_file)
    artifacts = [r.artifact for r in read_records(run_file) if r.WhichOneof("record_type") == "artifact"]
    assert [(a.type, a.name) for a in artifacts] == [("model", "model-run")]
    assert {"last.pt", "best.pt"} <= {entry.path for a in artifacts for entry in a.manifest.contents}


def test_disabled_creates_nothing(idx_dir, tmp_path):
    tiny_run(idx_dir, tmp_path, "--wandb", "disabled")
    assert not (tmp_path / "wb").exists()


def test_a_wandb_start_failure_never_stops_training(idx_dir, tmp_path, monkeypatch):
    import wandb

    def broken_init(*args, **kwargs):
        raise RuntimeError("service did not start\nsecond line")

    monkeypatch.setattr(wandb, "init", broken_init)
    metrics = tiny_run(idx_dir, tmp_path, "--wandb", "offline")
    assert metrics["epoch"] == 2
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "W&B: could not start (RuntimeError: service did not start second line)" in log


def test_mode_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert resolve_mode("auto") == ("offline", True)
    assert resolve_mode("online") == ("online", False)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode("auto") == ("disabled", False)
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert resolve_mode("auto") == ("online", False)


def test_a_latent_sweep_shares_one_group():
    configs = parse_train_args(["--latent", "2", "16"])
    assert configs[0].wandb_group == configs[1].wandb_group
    assert configs[0].wandb_group.startswith("mnist-latent-sweep-")
    assert parse_train_args(["--latent", "2"])[0].wandb_group is None
