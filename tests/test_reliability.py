import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.helpers import ROOT, TINY, make_idx_folder
from vaegan.config import ConfigError, TrainingError
from vaegan.logger import read_metrics
from vaegan.losses import VAEGANLoss
from vaegan.programs.train import main as train_main
from vaegan.programs.train import parse_train_args
from vaegan.signals import Interrupted
from vaegan.trainer import Trainer


@pytest.fixture
def data_256(tmp_path):
    return make_idx_folder(tmp_path / "data256", n_train=256, n_test=32)


def args_for(data, out, epochs, *extra):
    """data: an IDX folder, or None when `extra` names the data itself."""
    source = ["--data-dir", str(data)] if data is not None else []
    return ["--latent", "4", "--use_gan", "--perceptual-weight", "0", "--no-visuals", "--deterministic",
            *source, "--out", str(out), "--epochs", str(epochs), "--eval-train-images", "0", *TINY, *extra]


def fit(*args):
    (cfg,) = parse_train_args(list(args))
    return Trainer(cfg).fit()


def weights(out):
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=False)
    return {**{f"g.{k}": v for k, v in state["model"].items()},
            **{f"d.{k}": v for k, v in state["discriminator"].items()}}, state


def assert_same_weights(a, b):
    wa, _ = weights(a)
    wb, _ = weights(b)
    worst = max((wa[k] - wb[k]).abs().max().item() for k in wa)
    assert worst == 0.0, f"max abs difference {worst}"


def test_resume_after_an_epoch_is_bitwise_equal_to_an_uninterrupted_run(idx_dir, tmp_path):
    fit(*args_for(idx_dir, tmp_path / "straight", 2))
    fit(*args_for(idx_dir, tmp_path / "split", 1))
    fit(*args_for(idx_dir, tmp_path / "split", 2), "--resume")
    assert_same_weights(tmp_path / "straight", tmp_path / "split")
    epochs = [m["epoch"] for m in read_metrics(tmp_path / "split" / "metrics.jsonl")]
    assert epochs == [1, 2]


class StopAfterFirstEpoch:
    """Asks the trainer to stop as a signal would; it stops one step into epoch 2."""

    def on_fit_start(self, trainer): ...
    def on_fit_end(self, trainer): ...

    def on_epoch_end(self, trainer, metrics):
        if trainer.epoch == 1:
            trainer.stop.requested = signal.SIGTERM


def test_resume_is_bitwise_with_ema_lr_schedule_gan_samples_latent_critic_and_mixture_prior(idx_dir, tmp_path):
    # The cosine schedule spans --epochs, so the interrupted run is given the same --epochs.
    extra = ("--gan-samples", "--ema-decay", "0.9", "--lr-schedule", "cosine", "--warmup-steps", "3",
             "--prior", "gmm", "--prior-components", "2", "--latent-adversary-weight", "1", "--swd-weight", "10")
    fit(*args_for(idx_dir, tmp_path / "straight", 2), *extra)
    (cfg,) = parse_train_args(list(args_for(idx_dir, tmp_path / "split", 2)) + list(extra))
    with pytest.raises(Interrupted):
        Trainer(cfg, [StopAfterFirstEpoch()]).fit()
    assert weights(tmp_path / "split")[1]["batch_in_epoch"] == 1
    fit(*args_for(idx_dir, tmp_path / "split", 2), "--resume", *extra)
    assert_same_weights(tmp_path / "straight", tmp_path / "split")
    (_, a), (_, b) = weights(tmp_path / "straight"), weights(tmp_path / "split")
    assert all(torch.equal(a["ema"][k], b["ema"][k]) for k in a["ema"])
    assert torch.equal(a["prior"]["means"], b["prior"]["means"])
    for critic in ("sample_discriminator", "latent_discriminator"):
        assert all(torch.equal(a[critic][k], b[critic][k]) for k in a[critic]), critic
    assert a["schedulers"] == b["schedulers"] and a["schedulers"][0]["last_epoch"] == a["step"]
    assert a["opt_g"]["param_groups"][0]["lr"] < 1e-3  # the cosine schedule moved it


def launch(args):
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=args[args.index("--out") + 1]
                            .rsplit("/", 1)[0], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_first_epoch(out, proc, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if read_metrics(out / "metrics.jsonl"):
            return
        time.sleep(0.05)
    raise AssertionError(f"no epoch finished: {proc.communicate()[1][-2000:]}")


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_the_resumed_run_matches(data_256, tmp_path):
    out = tmp_path / "sig"
    proc = launch(args_for(data_256, out, 6))
    wait_for_first_epoch(out, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    _, state = weights(out)
    first_epoch_steps = read_metrics(out / "metrics.jsonl")[0]["step"]
    assert state["epoch"] < 6 and state["step"] > first_epoch_steps  # stopped inside a later epoch
    fit(*args_for(data_256, out, 6), "--resume")
    fit(*args_for(data_256, tmp_path / "straight", 6))
    assert_same_weights(out, tmp_path / "straight")
    assert [m["epoch"] for m in read_metrics(out / "metrics.jsonl")] == list(range(1, 7))


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_finishes_without_duplicated_epochs(data_256, tmp_path):
    out = tmp_path / "killed"
    proc = launch(args_for(data_256, out, 6, "--checkpoint-every", "3"))
    wait_for_first_epoch(out, proc)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    fit(*args_for(data_256, out, 6, "--checkpoint-every", "3"), "--resume")
    assert [m["epoch"] for m in read_metrics(out / "metrics.jsonl")] == list(range(1, 7))
    fit(*args_for(data_256, tmp_path / "straight", 6, "--checkpoint-every", "3"))
    assert_same_weights(out, tmp_path / "straight")


def inject_nan(monkeypatch, bad_steps):
    original = VAEGANLoss.generator_loss

    def patched(self, x, out, step, last_layer):
        loss, logs = original(self, x, out, step, last_layer)
        return (loss * math.nan if bad_steps(step) else loss), logs

    monkeypatch.setattr(VAEGANLoss, "generator_loss", patched)


def test_a_nan_step_is_skipped_and_counted(idx_dir, tmp_path, monkeypatch):
    inject_nan(monkeypatch, lambda step: step == 2)
    metrics = fit(*args_for(idx_dir, tmp_path / "nan", 2))
    records = read_metrics(tmp_path / "nan" / "metrics.jsonl")
    assert [r["train/skipped_steps"] for r in records] == [1, 0]
    assert all(math.isfinite(v) for k, v in metrics.items() if isinstance(v, float))
    assert all(torch.isfinite(v).all() for v in weights(tmp_path / "nan")[0].values())


def test_a_persistent_nan_stops_the_run_and_keeps_the_last_good_checkpoint(idx_dir, tmp_path, monkeypatch):
    inject_nan(monkeypatch, lambda step: step >= 5)  # epoch 1 = steps 0-3 is clean
    with pytest.raises(TrainingError, match="non-finite loss or gradients in 3 steps in a row"):
        fit(*args_for(idx_dir, tmp_path / "nan", 4, "--max-nonfinite-steps", "3", "--checkpoint-every", "1"))
    good, state = weights(tmp_path / "nan")
    assert all(torch.isfinite(v).all() for v in good.values())
    # Skipped steps leave the weights alone: every checkpoint after step 5 holds step 5's weights,
    # and the optimizer's own step count says it last stepped at step 5 (steps 0-4 were good).
    assert state["step"] == 7 and state["epoch"] == 1
    adam_steps = {float(v["step"]) for v in state["opt_g"]["state"].values()}
    assert adam_steps == {5.0}, adam_steps


def test_non_finite_weights_are_never_written_over_the_last_good_checkpoint(idx_dir, tmp_path):
    (cfg,) = parse_train_args(args_for(idx_dir, tmp_path / "w", 1))
    trainer = Trainer(cfg)
    trainer.fit()
    before = (tmp_path / "w" / "checkpoints" / "last.pt").read_bytes()
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(math.nan)
    with pytest.raises(TrainingError, match="kept the last good checkpoint"):
        trainer.save()
    assert (tmp_path / "w" / "checkpoints" / "last.pt").read_bytes() == before


def test_a_torn_metrics_line_is_dropped_on_resume(idx_dir, tmp_path):
    out = tmp_path / "torn"
    fit(*args_for(idx_dir, out, 1))
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 2, "train/lo')  # crash mid-write
    fit(*args_for(idx_dir, out, 2), "--resume")
    assert [m["epoch"] for m in read_metrics(out / "metrics.jsonl")] == [1, 2]


def test_keep_checkpoints_keeps_the_last_n_epochs(idx_dir, tmp_path):
    out = tmp_path / "keep"
    fit(*args_for(idx_dir, out, 3), "--keep-checkpoints", "2")
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == ["best.pt", "epoch-0002.pt", "epoch-0003.pt", "last.pt"], names
    kept = torch.load(out / "checkpoints" / "epoch-0002.pt", weights_only=True)
    assert kept["epoch"] == 2 and torch.load(out / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 3


def test_resume_auto_starts_a_new_run_then_continues_it(idx_dir, tmp_path):
    out = tmp_path / "auto"
    fit(*args_for(idx_dir, out, 1), "--resume", "auto")  # nothing there yet: starts
    fit(*args_for(idx_dir, out, 2), "--resume", "auto")  # a run there: continues it
    assert [m["epoch"] for m in read_metrics(out / "metrics.jsonl")] == [1, 2]
    assert weights(out)[1]["step"] == 8
    with pytest.raises(ConfigError, match="already holds a run"):  # the default still refuses
        fit(*args_for(idx_dir, out, 3))


def test_resuming_a_run_trained_without_the_sample_discriminator_under_the_new_default_says_why(idx_dir, tmp_path):
    fit(*args_for(idx_dir, tmp_path / "run", 1), "--latent", "16", "--no-gan-samples")
    with pytest.raises(ConfigError, match="gan_samples: False in checkpoint, True now"):
        fit(*args_for(idx_dir, tmp_path / "run", 2), "--latent", "16", "--resume")


def test_resume_spellings_and_boolean_configs():
    assert parse_train_args(["--resume"])[0].resume == "yes"
    assert parse_train_args(["--resume", "auto"])[0].resume == "auto"
    assert parse_train_args(["--resume", "--no-resume"])[0].resume == "no"
    assert parse_train_args([])[0].resume == "no"
    from vaegan.config import build_config

    assert build_config({"resume": True}).resume == "yes"  # configs saved when it was a flag
    assert build_config({"resume": False}).resume == "no"


@pytest.mark.slow  # ~80 s: CPU fp16 kernels are slow
def test_fp16_with_gradient_scaling_trains_and_resumes_bitwise(idx_dir, tmp_path):
    """--precision fp16 (CPU autocast here; T4 / V100 on CUDA): scalers in the checkpoint, exact resume."""
    extra = ("--precision", "fp16")
    fit(*args_for(idx_dir, tmp_path / "straight", 2), *extra)
    (cfg,) = parse_train_args(list(args_for(idx_dir, tmp_path / "split", 2)) + list(extra))
    with pytest.raises(Interrupted):
        Trainer(cfg, [StopAfterFirstEpoch()]).fit()
    fit(*args_for(idx_dir, tmp_path / "split", 2), "--resume", *extra)
    assert_same_weights(tmp_path / "straight", tmp_path / "split")
    (_, a), (_, b) = weights(tmp_path / "straight"), weights(tmp_path / "split")
    assert a["scalers"] == b["scalers"] and a["scalers"]["g"]["scale"] > 0 and a["scalers"]["d"]
    records = read_metrics(tmp_path / "straight" / "metrics.jsonl")
    assert all(math.isfinite(r["train/loss"]) and "train/scaler_skipped_steps" in r for r in records)


def test_a_scaler_overflow_is_not_a_nonfinite_step(idx_dir, tmp_path):
    (cfg,) = parse_train_args(list(args_for(idx_dir, tmp_path / "o", 1)) + ["--precision", "fp16"])
    trainer = Trainer(cfg)
    param = next(trainer.model.parameters())
    before = param.detach().clone()
    loss = (param.float().sum() * 0) + torch.tensor(1.0)
    huge = param.sum() * 1e30  # finite loss, gradient that overflows once scaled
    scaler = trainer.scalers["g"]
    scaler.load_state_dict({**scaler.state_dict(), "_growth_tracker": 7})  # 7 good steps counted so far
    outcome = trainer._backward_and_step(loss + huge - huge.detach(), trainer.model.parameters(), trainer.opt_g,
                                         scaler)
    assert outcome == "overflow" and torch.equal(param.detach(), before)
    assert scaler.get_scale() < 65536.0  # the scaler backed off
    assert scaler.state_dict()["_growth_tracker"] == 0  # and counts good steps from zero again


def test_a_streamed_image_folder_resumes_bitwise_like_resident_data(tmp_path):
    """Data streamed from disk (--data-memory-mb 0) mid-epoch resume == uninterrupted == resident."""
    from tests.data.test_folder import image_folder

    folder = image_folder(tmp_path / "imgs", classes=("a", "b", "c", "d"), per_class=12, size=(28, 28), mode="L")
    common = ["--dataset", "folder", "--data-dir", str(folder), "--workers", "1", "--test-fraction", "0.25"]
    streamed = (*common, "--data-memory-mb", "0")
    fit(*args_for(None, tmp_path / "straight", 2), *streamed)
    (cfg,) = parse_train_args([*args_for(None, tmp_path / "split", 2), *streamed])
    with pytest.raises(Interrupted):
        Trainer(cfg, [StopAfterFirstEpoch()]).fit()
    fit(*args_for(None, tmp_path / "split", 2), "--resume", *streamed)
    assert_same_weights(tmp_path / "straight", tmp_path / "split")
    fit(*args_for(None, tmp_path / "resident", 2), *common)
    assert_same_weights(tmp_path / "straight", tmp_path / "resident")
    assert "streamed from disk" in (tmp_path / "split" / "log.txt").read_text()


def test_resume_trains_the_objective_the_run_started_with(idx_dir, tmp_path, capsys):
    """Resuming without the run's loss flags must not swap in today's defaults."""
    from vaegan.programs.train import main as train_main

    out = tmp_path / "run"
    first = args_for(idx_dir, out, 1, "--swd-weight", "0", "--disc-feature-weight", "0", "--wandb", "disabled")
    assert train_main(first) == 0
    assert train_main(args_for(idx_dir, out, 2, "--resume", "--wandb", "disabled")) == 0
    epoch2 = read_metrics(out / "metrics.jsonl")[-1]
    assert epoch2["epoch"] == 2 and "train/swd" not in epoch2 and "train/disc_feature" not in epoch2
    saved = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["config"]
    assert (saved["swd_weight"], saved["disc_feature_weight"]) == (0.0, 0.0)
    capsys.readouterr()
    before = (out / "checkpoints" / "last.pt").read_bytes()
    assert train_main(args_for(idx_dir, out, 3, "--resume", "auto", "--swd-weight", "50", "--lr", "0.01",
                               "--wandb", "disabled")) == 2
    err = capsys.readouterr().err
    assert "swd_weight: 0.0 in checkpoint, 50.0 now" in err and "lr: 0.001 in checkpoint, 0.01 now" in err, err
    assert len(err.strip().splitlines()) == 1 and (out / "checkpoints" / "last.pt").read_bytes() == before


def test_resume_keeps_settings_not_given_and_takes_the_ones_that_may_change(idx_dir, tmp_path):
    from vaegan.checkpoint import resumed_config

    (cfg,) = parse_train_args(args_for(idx_dir, tmp_path / "r", 1, "--kl-weight", "0.5", "--eval-every", "2"))
    saved = {**cfg.to_dict(), "image_channels": 1, "image_size": 28}
    del saved["swd_weight"]  # a checkpoint from before the key existed: trained without the term
    requested = parse_train_args(["--resume", "--epochs", "5", "--no-visuals", "--out", str(tmp_path / "r")])[0]
    resumed = resumed_config(saved, requested, {"resume", "epochs", "visuals", "out"}, tmp_path / "r")
    assert (resumed.kl_weight, resumed.swd_weight, resumed.latent, resumed.channels) == (0.5, 0.0, 4, [8, 16, 16])
    assert (resumed.epochs, resumed.visuals, resumed.eval_every) == (5, False, 2)


def test_a_checkpoint_from_before_the_validation_split_reads_as_todays_keys_without_one():
    from vaegan.checkpoint import saved_config

    old = {"latent": 4, "val_fraction": 0.25, "best_metric": "test/ssim"}
    values = saved_config(old)
    assert (values["test_fraction"], values["best_metric"], values["val_images"]) == (0.25, "val/ssim", 0)
    assert "val_fraction" not in values


def test_resume_auto_after_a_crash_before_the_first_checkpoint_starts_cleanly(idx_dir, tmp_path):
    import json

    from vaegan.trainer import train

    out = tmp_path / "run"
    argv = [a for a in args_for(idx_dir, out, 1, "--resume", "auto") if a != "--no-visuals"]
    frames = out / "assets" / "latent_4" / "frames"  # what a run killed in its first epoch leaves
    frames.mkdir(parents=True)
    (frames / "run.json").write_text(json.dumps({"run_id": "deadbeef0000", "run_dir": str(out)}))
    (frames / "samples_0001.png").write_bytes(b"a frame of the dead run")
    train(parse_train_args(argv)[0])
    assert json.loads((frames / "run.json").read_text())["run_id"] != "deadbeef0000"
    assert (frames / "samples_0001.png").read_bytes()[:4] == b"\x89PNG"  # this run's frame, not the dead one's
    other = [a if a != str(out) else str(tmp_path / "other") for a in argv] + ["--assets-dir", str(out / "assets")]
    with pytest.raises(ConfigError, match="holds the GIF frames of another run"):  # a live run's stay refused
        train(parse_train_args(other)[0])


def test_resume_reads_the_image_spec_from_the_checkpoint(tmp_path):
    from tests.data.test_folder import write_image

    for i in range(40):
        write_image(tmp_path / "photos" / str(i % 2) / f"{i}.png", (40, 40), "RGB", seed=i)
    source = ["--dataset", "folder", "--data-dir", str(tmp_path / "photos"), "--workers", "0"]
    fit(*args_for(None, tmp_path / "run", 1, *source, "--image-size", "16", "--image-channels", "1"))
    assert train_main(args_for(None, tmp_path / "run", 2, *source, "--resume")) == 0  # neither repeated
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert (state["epoch"], state["config"]["image_size"], state["config"]["image_channels"]) == (2, 16, 1)


def test_changed_epochs_under_a_cosine_schedule_are_said_on_resume(idx_dir, tmp_path):
    fit(*args_for(idx_dir, tmp_path / "run", 1, "--lr-schedule", "cosine"))
    assert train_main(args_for(idx_dir, tmp_path / "run", 2, "--resume")) == 0
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "--epochs 2 (the run started with 1) reshapes the cosine schedule" in log


def test_a_resumed_run_without_a_validation_split_says_best_pt_is_not_updated(idx_dir, tmp_path):
    fit(*args_for(idx_dir, tmp_path / "run", 1, "--val-images", "0"))
    assert train_main(args_for(idx_dir, tmp_path / "run", 2, "--resume")) == 0
    assert "best.pt is not written or updated" in (tmp_path / "run" / "log.txt").read_text()
    assert not (tmp_path / "run" / "checkpoints" / "best.pt").exists()


def test_a_folder_given_as_a_checkpoint_is_one_line(tmp_path):
    from vaegan.checkpoint import load_checkpoint

    with pytest.raises(ConfigError, match="is a folder: this program needs a training checkpoint"):
        load_checkpoint(tmp_path)


def test_atomic_writes_of_one_file_never_share_a_temporary_file(tmp_path):
    """Independent runs fill one cache (the domain classifier): a fixed `NAME.tmp` would be written
    by both and renamed by the first, the second then failing. Here a stale NAME.tmp folder stands in
    for the other writer."""
    from vaegan.checkpoint import atomic_write

    target = tmp_path / "classifier.pt"
    (tmp_path / "classifier.pt.tmp").mkdir()
    atomic_write(target, lambda f: f.write(b"one"))
    atomic_write(target, lambda f: f.write(b"two"))
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classifier.pt", "classifier.pt.tmp"]
    with pytest.raises(ZeroDivisionError):  # a failed write leaves the file as it was and no debris
        atomic_write(target, lambda f: 1 / 0)
    assert target.read_bytes() == b"two" and len(list(tmp_path.iterdir())) == 2
