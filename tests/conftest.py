import os
import tempfile
from pathlib import Path

import pytest
import torch

os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ["VAEGAN_CACHE"] = tempfile.mkdtemp(prefix="vaegan-test-cache-")  # never the user's ~/.cache

from tests.helpers import TINY, make_idx_folder


@pytest.fixture
def idx_dir(tmp_path: Path) -> Path:
    return make_idx_folder(tmp_path / "data")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _no_deterministic_leak():
    """--deterministic switches deterministic algorithms on for the whole process (right for a
    training run); a test that trains with it must not change the kernels of later tests."""
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A tiny GAN run with EMA and a 2-component mixture prior: its last.pt."""
    from vaegan.programs.train import main as train_main

    root = tmp_path_factory.mktemp("tiny-run")
    data = make_idx_folder(root / "data")
    assert train_main(["--latent", "4", "--data-dir", str(data), "--out", str(root / "run"), "--epochs", "2",
                       "--use_gan", "--ema-decay", "0.9", "--prior", "gmm", "--prior-components", "2",
                       "--perceptual-weight", "0", "--no-visuals", "--wandb", "disabled", *TINY]) == 0
    return root / "run" / "checkpoints" / "last.pt"
