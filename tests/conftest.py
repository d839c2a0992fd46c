import gzip
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ["VAEGAN_CACHE"] = tempfile.mkdtemp(prefix="vaegan-test-cache-")  # never the user's ~/.cache

ROOT = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist")

# A U-Net small enough for CPU tests; every other setting is the default.
TINY = ["--channels", "8", "16", "16", "--attn-heads", "2", "--lpips-backbone", "random",
        "--batch-size", "16", "--eval-batch-size", "32", "--disc-start", "0"]


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def make_idx_folder(folder: Path, n_train: int = 64, n_test: int = 32, gz: bool = False) -> Path:
    """Class-dependent blobs: learnable, so a few steps of training visibly help."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        yy, xx = np.mgrid[:28, :28]
        centres = 6 + 16 * rng.random((n, 2))
        images = 255 * np.exp(-((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2)
                              / (2 * (2 + labels[:, None, None] / 3) ** 2))
        write_idx(folder / f"{split}-images-idx3-ubyte", images, gz)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels, gz)
    return folder


def call(main, argv, capsys):
    """(exit code, stderr) of a command-line entry point."""
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


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
    from vaegan.cli import train_main

    root = tmp_path_factory.mktemp("tiny-run")
    data = make_idx_folder(root / "data")
    assert train_main(["--latent", "4", "--data-dir", str(data), "--out", str(root / "run"), "--epochs", "2",
                       "--use_gan", "--ema-decay", "0.9", "--prior", "gmm", "--prior-components", "2",
                       "--perceptual-weight", "0", "--no-visuals", "--wandb", "disabled", *TINY]) == 0
    return root / "run" / "checkpoints" / "last.pt"
