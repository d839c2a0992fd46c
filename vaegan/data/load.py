"""Where images come from, decided once: `load_data(cfg)` returns the train, validation and test
splits, the image spec (channels, size) every other part is built from, and one line saying what was done.

Sources: MNIST-family IDX files (idx.py), other torchvision datasets (below), a folder of the
user's images (folder.py). Tensor sources are always resident; files are decoded once and kept
resident as uint8 when they fit --data-memory-mb, else streamed from disk every epoch.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import NamedTuple, Optional

import torch
import torchvision.transforms.v2.functional as TF

from ..config import Config
from .folder import FileImages, FolderScan, check_sizes, decode_all, native_size, scan, scan_files, split_folders
from .idx import TORCHVISION_CLASS, download_into, load_idx_data
from .split import DataError, ImageSpec, ImageSplit, fit_tensor

# torchvision datasets held as arrays: (class name, extra arguments, how train/test is chosen).
TENSOR_SETS = {
    "emnist": ("EMNIST", {"split": "balanced"}, "train"),
    "cifar10": ("CIFAR10", {}, "train"),
    "svhn": ("SVHN", {}, "split"),
}
CELEBA_SIZE = 64  # CelebA's own 178x218 is not square: its default --image-size


class Data(NamedTuple):
    """The splits of a run: train (what it trains on), val (held out from the training images to
    choose best.pt; None with --val-images 0), test (reported only), their spec and the log line;
    whole_train: the training split before the hold-out, when --limit-train left it whole (the
    domain classifier's data, so it is not loaded twice)."""
    train: ImageSplit
    val: Optional[ImageSplit]
    test: ImageSplit
    spec: ImageSpec
    summary: str
    whole_train: Optional[ImageSplit] = None


def load_data(cfg: Config) -> Data:
    whole, test, spec, how = _load_train_test(cfg)
    train, val = hold_out_validation(whole, cfg.val_images, cfg.split_seed)
    summary = _describe(cfg, train, val, test, spec, how)
    return Data(train, val, test, spec, summary, whole if cfg.limit_train is None else None)


def load_whole_train(cfg: Config, data: Optional[Data] = None) -> ImageSplit:
    """The dataset's whole training split, before --limit-train and the validation hold-out, at the
    run's image spec: what the domain classifier trains on, so that it is one per dataset. Taken
    from `data` (the run's load_data) when it holds it, else loaded."""
    if data is not None and data.whole_train is not None:
        return data.whole_train
    return _load_train_test(dataclasses.replace(cfg, limit_train=None, limit_test=1))[0]  # 1: test unused


def _load_train_test(cfg: Config) -> tuple[ImageSplit, ImageSplit, ImageSpec, str]:
    return _load_files(cfg) if cfg.dataset in ("folder", "celeba") else _load_arrays(cfg)


def validation_size(n_images: int, val_images: int) -> int:
    """How many of `n_images` training images the validation split takes: --val-images, at most a tenth."""
    return min(val_images, n_images // 10)


def hold_out_validation(train: ImageSplit, n: int, seed: int) -> tuple[ImageSplit, Optional[ImageSplit]]:
    """(the images to train on, a seeded random `n` of the training images, at most a tenth)."""
    n = validation_size(len(train), n)
    if n == 0:
        return train, None
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    return train.subset(order[n:].sort().values), train.subset(order[:n].sort().values)


def _load_arrays(cfg: Config) -> tuple[ImageSplit, ImageSplit, ImageSpec, str]:
    train, test = load_idx_data(cfg) if cfg.dataset in TORCHVISION_CLASS else _load_tensor_set(cfg)
    channels = cfg.image_channels or train.pixels.shape[1]
    if train.pixels.shape[-2:] != test.pixels.shape[-2:]:
        raise DataError(f"train images are {tuple(train.pixels.shape[-2:])} px, test images "
                        f"{tuple(test.pixels.shape[-2:])}: the splits must have one size")
    size = cfg.image_size or _square(train.pixels.shape[-2:], cfg.dataset)
    spec = ImageSpec(channels, size)
    train, test = (_fit(s, spec) for s in (train, test))
    return train, test, spec, "resident as uint8"


def _square(hw, name: str) -> int:
    if hw[0] != hw[1]:
        raise DataError(f"{name} images are {hw[1]}x{hw[0]}, not square; pass --image-size N")
    return int(hw[0])


def _fit(split: ImageSplit, spec: ImageSpec) -> ImageSplit:
    """Tensor-held images to the spec: channels (gray <-> RGB), then resize + center crop."""
    pixels = split.pixels
    if pixels.shape[1] != spec.channels:
        pixels = pixels.expand(-1, 3, -1, -1) if spec.channels == 3 else TF.rgb_to_grayscale(pixels)
    if min(pixels.shape[-2:]) < spec.size:
        raise DataError(f"the images are {pixels.shape[-1]}x{pixels.shape[-2]}, smaller than --image-size "
                        f"{spec.size}; upscaling would invent detail")
    return ImageSplit(fit_tensor(pixels, spec.size).contiguous(), split.labels, split.class_names)


def _load_tensor_set(cfg: Config) -> tuple[ImageSplit, ImageSplit]:
    import torchvision

    name, extra, how = TENSOR_SETS[cfg.dataset]
    root = Path(cfg.data_dir or "data")
    splits = []
    for split, limit in (("train", cfg.limit_train), ("test", cfg.limit_test)):
        chosen = {"train": split == "train"} if how == "train" else {"split": split}
        try:
            ds = _torchvision_set(getattr(torchvision.datasets, name), root, **extra, **chosen)
        except Exception as e:  # offline, a torn download, a full disk: all mean "no data"
            reason = " ".join(f"{type(e).__name__}: {e}".split())[:160]
            raise DataError(f"could not load {cfg.dataset} into {root} ({reason}); download it on a machine "
                            f"with network access, or pass --dataset folder --data-dir DIR") from None
        pixels = torch.as_tensor(ds.data)
        if pixels.dim() == 3:  # EMNIST: [N, H, W], stored transposed
            pixels = pixels.transpose(1, 2).unsqueeze(1)
        elif pixels.shape[-1] == 3:  # CIFAR: [N, H, W, C]
            pixels = pixels.permute(0, 3, 1, 2)
        labels = torch.as_tensor(ds.targets if hasattr(ds, "targets") else ds.labels).long()  # SVHN: .labels
        classes = list(getattr(ds, "classes", [])) or [str(c) for c in range(int(labels.max()) + 1)]
        splits.append(ImageSplit(pixels[:limit].contiguous(), labels[:limit], classes))
    return splits[0], splits[1]


def _torchvision_set(cls, root: Path, **kwargs):
    """The dataset from `root` if it is there and intact, else downloaded (download_into)."""
    try:
        return cls(str(root), download=False, **kwargs)
    except Exception:  # not there yet, or torn: download it
        pass
    download_into(root, lambda folder: cls(folder, download=True, **kwargs))
    return cls(str(root), download=False, **kwargs)


def _celeba_files(cfg: Config) -> tuple[list[Path], list[Path]]:
    import torchvision

    root = Path(cfg.data_dir or "data")
    files = []
    for split in ("train", "test"):
        try:
            ds = _torchvision_set(torchvision.datasets.CelebA, root, split=split, target_type=[])
        except Exception as e:
            reason = " ".join(f"{type(e).__name__}: {e}".split())[:160]
            raise DataError(f"could not load celeba into {root} ({reason}); its Google Drive download often "
                            f"fails: put img_align_celeba/ in a folder and pass --dataset folder") from None
        files.append([Path(ds.root) / ds.base_folder / "img_align_celeba" / f for f in ds.filename])
    return files[0], files[1]


def _load_files(cfg: Config) -> tuple[ImageSplit, ImageSplit, ImageSpec, str]:
    if cfg.dataset == "celeba":
        train_files, test_files = _celeba_files(cfg)
        scans = [scan_files(train_files), scan_files(test_files)]
    else:
        folder = Path(cfg.data_dir)
        if not folder.is_dir():
            raise DataError(f"--data-dir {folder} does not exist")
        pair = split_folders(folder)
        if pair is not None:
            train_scan = scan(pair[0])
            scans = [train_scan, scan(pair[1], train_scan.class_names)]
        else:
            scans = _hold_out(scan(folder), cfg.test_fraction, cfg.split_seed, folder)
    scans = [_limit(s, n) for s, n in zip(scans, (cfg.limit_train, cfg.limit_test))]
    channels = cfg.image_channels or (1 if all(s.grayscale for s in scans) else 3)
    all_paths = scans[0].paths + scans[1].paths
    all_sizes = scans[0].sizes + scans[1].sizes
    default = CELEBA_SIZE if cfg.dataset == "celeba" else None
    size = cfg.image_size or default or native_size(all_sizes, all_paths)
    check_sizes(all_sizes, all_paths, size)
    spec = ImageSpec(channels, size)
    need_mb = len(all_paths) * channels * size * size / 2 ** 20
    resident = need_mb <= cfg.data_memory_mb
    splits = []
    for s in scans:
        labels = None if s.labels is None else torch.tensor(s.labels)
        pixels = decode_all(s.paths, spec, cfg.workers) if resident else FileImages(s.paths, spec)
        splits.append(ImageSplit(pixels, labels, s.class_names, workers=cfg.workers))
    how = ("resident as uint8" if resident else
           f"streamed from disk with {cfg.workers} workers (decoded they need {need_mb:.0f} MB > "
           f"--data-memory-mb {cfg.data_memory_mb})")
    return splits[0], splits[1], spec, how


def _hold_out(found: FolderScan, fraction: float, seed: int, folder: Path) -> list[FolderScan]:
    """A seeded random `fraction` of the images as the test split (file order kept within each)."""
    n = len(found.paths)
    n_test = round(n * fraction)
    if n_test < 1 or n_test >= n:
        raise DataError(f"{folder} has {n} images: --test-fraction {fraction} leaves an empty split; "
                        f"add images, change --test-fraction, or make train/ and test/ sub-folders")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    parts = [sorted(order[n_test:].tolist()), sorted(order[:n_test].tolist())]
    return [FolderScan([found.paths[i] for i in idx],
                       None if found.labels is None else [found.labels[i] for i in idx],
                       found.class_names, found.grayscale, [found.sizes[i] for i in idx]) for idx in parts]


def _limit(found: FolderScan, n: Optional[int]) -> FolderScan:
    if n is None:
        return found
    return FolderScan(found.paths[:n], None if found.labels is None else found.labels[:n], found.class_names,
                      found.grayscale, found.sizes[:n])


def _describe(cfg: Config, train: ImageSplit, val: Optional[ImageSplit], test: ImageSplit, spec: ImageSpec,
              how: str) -> str:
    labels = f"{len(train.class_names)} classes" if train.labels is not None else "no labels"
    held = f" / {len(val)} val" if val is not None else ""
    return f"data: {cfg.dataset}, {len(train)} train{held} / {len(test)} test images, {spec} px, {labels}, {how}"
