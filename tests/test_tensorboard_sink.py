"""--tensorboard: the event file holds the keys of metrics.jsonl and steps.jsonl, and the frames."""
import pytest

from tests.helpers import TINY
from vaegan.logger import read_metrics
from vaegan.programs.train import main as train_main


def read_events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0}).Reload()
    return events


def test_tensorboard_gets_the_same_keys_as_the_local_files_and_survives_resume(idx_dir, tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    args = ["--latent", "2", "--data-dir", str(idx_dir), "--out", str(out), "--use_gan", "--perceptual-weight", "0",
            "--tensorboard", "--wandb", "disabled", "--batch-size", "2", "--val-images", "0", *TINY[:-6]]
    assert train_main([*args, "--epochs", "1"]) == 0
    assert train_main([*args, "--epochs", "2", "--resume"]) == 0
    epochs, steps = read_metrics(out / "metrics.jsonl"), read_metrics(out / "steps.jsonl")
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert [r["step"] for r in steps] == [25, 57]  # 32 steps an epoch, a line every 25 batches of an epoch
    events = read_events(out / "tensorboard")
    tags = set(events.Tags()["scalars"])
    local = {k for r in epochs + steps for k, v in r.items() if isinstance(v, (int, float)) and k != "step"}
    assert local <= tags, local - tags
    loss = events.Scalars("train/loss")
    assert sorted(e.step for e in loss) == sorted({r["step"] for r in epochs + steps if "train/loss" in r})
    assert {"media/reconstructions", "media/samples"} <= set(events.Tags()["images"])
