"""What many tests share, imported by name (`from tests.helpers import TINY, call`): paths, the tiny
U-Net flags, IDX files made on the spot and a way to call a program's entry point."""
import gzip
from pathlib import Path

import numpy as np

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
