"""MNIST-family IDX files (MNIST, Fashion-MNIST, KMNIST), read into one uint8 tensor.

Found in --data-dir, in data/<Name>/raw, in Debian's dataset-fashion-mnist package, or downloaded
with torchvision into a scratch folder and moved into place only when complete.
"""
from __future__ import annotations

import gzip
import io
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Callable, Optional

import torch

from ..config import IMAGE_SUFFIXES, Config
from .split import DataError, ImageSplit

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
TORCHVISION_CLASS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": ["T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Boot"],
    "kmnist": ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
}


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if path.suffix != ".gz":
        return raw
    try:  # the stream reader, unlike gzip.decompress, raises on a truncated stream
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path} is not a valid gzip file ({e}); re-download it") from None


def read_idx(path: Path) -> torch.Tensor:
    """Parse an unsigned-byte IDX file (the MNIST format) into a uint8 tensor."""
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or not 1 <= data[3] <= 4:
        raise DataError(f"{path} has a bad IDX magic number (expected 0x0000 08 0N); re-download it")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated inside its header; re-download it")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    count = 1
    for d in dims:
        count *= d
    if len(data) != header + count:
        raise DataError(f"{path} holds {len(data) - header} bytes of data but its header promises "
                        f"{count} ({'x'.join(map(str, dims))}); the file is truncated or corrupt")
    return torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8).reshape(dims)


def _find(folder: Path, name: str) -> Optional[Path]:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def has_idx_files(folder: Path) -> bool:
    return all(_find(folder, n) for pair in IDX_NAMES.values() for n in pair)


def load_split(folder: Path, split: str, limit: Optional[int] = None,
               class_names: Optional[list[str]] = None) -> ImageSplit:
    """uint8 [N, 1, H, W] images and their labels; H, W as the file says (any size)."""
    image_name, label_name = IDX_NAMES[split]
    paths = [_find(folder, image_name), _find(folder, label_name)]
    if not all(paths):
        missing = [n for n, p in zip((image_name, label_name), paths) if p is None]
        hint = ("; it holds image files: pass --dataset folder to train on them"
                if folder.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.rglob("*"))
                else " (IDX files; for a folder of your own images pass --dataset folder)")
        raise DataError(f"{folder} lacks {', '.join(missing)}[.gz]{hint}")
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.dim() != 3:
        raise DataError(f"{paths[0]} holds a {images.dim()}-d array; images need 3 dims (count, height, width)")
    if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(f"{paths[1]} has {labels.shape[0]} labels for {images.shape[0]} images in "
                        f"{paths[0].name}")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    names = class_names or [str(c) for c in range(int(labels.max()) + 1 if len(labels) else 0)]
    return ImageSplit(images.unsqueeze(1), labels.long(), names)


def download_into(root: Path, fetch: Callable[[str], object]) -> None:
    """`fetch(folder)` downloads into a scratch folder beside `root`; its contents are moved into
    `root` only when it returns, so a failed download leaves nothing behind (not even `root`)."""
    parent = root.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent, prefix=".download-") as scratch:
        fetch(scratch)
        root.mkdir(parents=True, exist_ok=True)
        for item in Path(scratch).iterdir():
            target = root / item.name
            if target.is_dir():
                shutil.rmtree(target)
            shutil.move(str(item), str(target))


def _download(dataset: str, root: Path) -> Path:
    """torchvision's download, moved into place only when complete."""
    import torchvision

    name = TORCHVISION_CLASS[dataset]
    cls = getattr(torchvision.datasets, name)

    def fetch(folder: str) -> None:
        cls(folder, train=True, download=True)
        cls(folder, train=False, download=True)

    try:
        download_into(root, fetch)
    except Exception as e:  # network errors come in many types; any of them means "no data"
        reason = " ".join(f"{type(e).__name__}: {e}".split())[:160]
        raise DataError(f"could not download {dataset} ({reason}); put its IDX files in a folder "
                        f"and pass --data-dir DIR") from None
    return root / name / "raw"


def resolve_data_dir(cfg: Config, download_root: Path = Path("data")) -> Path:
    """--data-dir if given; else a known local copy; else torchvision's download."""
    if cfg.data_dir:
        folder = Path(cfg.data_dir)
        if not folder.is_dir():
            raise DataError(f"--data-dir {folder} does not exist")
        return folder
    local = download_root / TORCHVISION_CLASS[cfg.dataset] / "raw"
    if has_idx_files(local):
        return local
    if cfg.dataset == "fashion-mnist" and has_idx_files(DEBIAN_FASHION_MNIST):
        return DEBIAN_FASHION_MNIST
    return _download(cfg.dataset, download_root)


def load_idx_data(cfg: Config) -> tuple[ImageSplit, ImageSplit]:
    folder = resolve_data_dir(cfg)
    names = CLASS_NAMES.get(cfg.dataset)
    return (load_split(folder, "train", cfg.limit_train, names),
            load_split(folder, "test", cfg.limit_test, names))
