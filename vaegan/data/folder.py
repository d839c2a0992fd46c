"""A folder of the user's own images (PNG / JPEG / WebP / BMP, nested), decoded with Pillow.

Layout: `train/` and `test/` sub-folders become the splits (else a seeded --val-fraction is held
out); first-level class sub-folders become labels (else there are none). Conversions, stated
once: transparent pixels are composited on white; palette and CMYK images become RGB; the
channel count is 1 when every image is grayscale, else 3 (grayscale images are then repeated
to RGB). 16-bit and float images are refused rather than silently clipped.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..config import IMAGE_SUFFIXES
from .split import DataError, ImageSpec

GRAY_MODES = {"1", "L", "LA", "La"}
COLOR_MODES = {"RGB", "RGBA", "RGBa", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"}
SPLIT_NAMES = {"train": ("train",), "test": ("test", "val", "valid", "validation")}


@dataclass
class FolderScan:
    """What the file headers say: every image, its label (or None), mode and size."""
    paths: list[Path]
    labels: Optional[list[int]]
    class_names: Optional[list[str]]
    grayscale: bool
    sizes: list[tuple[int, int]]


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _header(path: Path) -> tuple[str, tuple[int, int]]:
    try:
        with Image.open(path) as img:
            return img.mode, img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: not a readable image ({_reason(e, path)})") from None


def _reason(e: Exception, path: Path) -> str:
    """The exception in a few words, without the path the message already starts with."""
    text = " ".join(str(e).replace(str(path), "the file").split())
    return f"{type(e).__name__}: {text}"[:120]


def scan(folder: Path, class_names: Optional[list[str]] = None) -> FolderScan:
    """Headers only (Pillow opens lazily): fast, and a file that is not an image fails here."""
    subdirs = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    loose = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if class_names is None and subdirs and not loose:
        class_names = [d for d in subdirs if _images_under(folder / d)]
    paths, labels = [], []
    if class_names:
        for label, name in enumerate(class_names):
            found = _images_under(folder / name) if (folder / name).is_dir() else []
            paths += found
            labels += [label] * len(found)
    else:
        paths = _images_under(folder)
    if not paths:
        raise DataError(f"{folder} holds no images ({', '.join(sorted(s[1:] for s in IMAGE_SUFFIXES))})")
    modes, sizes = [], []
    for path in tqdm(paths, desc=f"scanning {folder}", leave=False, disable=len(paths) < 5000):
        mode, size = _header(path)
        if mode not in GRAY_MODES | COLOR_MODES:
            raise DataError(f"{path}: {mode} images (16-bit or float) are not supported; save it as 8-bit")
        modes.append(mode)
        sizes.append(size)
    return FolderScan(paths, labels if class_names else None, class_names or None,
                      all(m in GRAY_MODES for m in modes), sizes)


def scan_files(paths: list[Path]) -> FolderScan:
    """A FolderScan of given files (CelebA's split lists), unlabelled."""
    heads = [_header(p) for p in paths]
    if not heads:
        raise DataError("the dataset lists no images")
    return FolderScan(list(paths), None, None, all(m in GRAY_MODES for m, _ in heads), [s for _, s in heads])


def split_folders(folder: Path) -> Optional[tuple[Path, Path]]:
    """(train, test) sub-folders when the folder has both, else None."""
    found = {}
    for split, names in SPLIT_NAMES.items():
        found[split] = next((folder / n for n in names if (folder / n).is_dir()), None)
    return (found["train"], found["test"]) if all(found.values()) else None


def native_size(sizes: list[tuple[int, int]], paths: list[Path]) -> int:
    """The data's own size when every image has the same square size; else an error asking for one."""
    first = sizes[0]
    for path, size in zip(paths, sizes):
        if size != first or size[0] != size[1]:
            what = f"{paths[0].name} is {first[0]}x{first[1]}, {path.name} is {size[0]}x{size[1]}" \
                if size != first else f"{path.name} is {size[0]}x{size[1]}, not square"
            raise DataError(f"the images are not all one square size ({what}); pass --image-size N to "
                            f"resize and center-crop them")
    return first[0]


def check_sizes(sizes: list[tuple[int, int]], paths: list[Path], size: int) -> None:
    for path, (w, h) in zip(paths, sizes):
        if min(w, h) < size:
            raise DataError(f"{path} is {w}x{h}, smaller than --image-size {size}; upscaling would "
                            f"invent detail, so pass a smaller --image-size or remove it")


def decode_image(path: Path, spec: ImageSpec, upscale: bool = False) -> torch.Tensor:
    """One file -> uint8 [C, S, S]: converted as the module docstring says, resized (shorter side,
    bicubic) and center-cropped by Pillow's ImageOps.fit; smaller images are an error unless
    `upscale` (vaegan-sample's inputs)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's "palette images with transparency" note
            with Image.open(path) as img:
                img.load()
                img = _convert(img, spec.channels)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: cannot decode the image ({_reason(e, path)})") from None
    if img.size != (spec.size, spec.size):
        if min(img.size) < spec.size and not upscale:
            raise DataError(f"{path} is {img.size[0]}x{img.size[1]}, smaller than --image-size {spec.size}")
        img = ImageOps.fit(img, (spec.size, spec.size), Image.Resampling.BICUBIC)
    array = np.asarray(img, dtype=np.uint8)
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return torch.from_numpy(array.copy())


def _convert(img: Image.Image, channels: int) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    return img.convert("L" if channels == 1 else "RGB")


def decode_all(paths: list[Path], spec: ImageSpec, workers: int) -> torch.Tensor:
    """Every file decoded into one uint8 [N, C, S, S] tensor (threads: Pillow decodes without the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    out = torch.empty((len(paths), spec.channels, spec.size, spec.size), dtype=torch.uint8)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        decoded = pool.map(lambda p: decode_image(p, spec), paths, chunksize=64)
        for i, image in enumerate(tqdm(decoded, total=len(paths), desc="decoding images", leave=False,
                                       disable=len(paths) < 2000)):
            out[i] = image
    return out


class FileImages(Dataset):
    """Image files decoded on demand to uint8 [C, S, S] (see `decode_image`)."""

    def __init__(self, paths: Sequence[Path], spec: ImageSpec):
        self.paths, self.spec = list(paths), spec

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return decode_image(self.paths[i], self.spec)

    def subset(self, index: torch.Tensor) -> "FileImages":
        return FileImages([self.paths[i] for i in index.tolist()], self.spec)
