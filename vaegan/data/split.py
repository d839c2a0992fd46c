"""A split of images: resident as one uint8 tensor, or streamed from image files.

Both hand out float batches in [0, 1] for lists of indices, in exactly the order asked, so the
seeded batch order (and exact resume) is the same whichever way the pixels are kept. Resident
batches are slices of one tensor (PITFALLS: per-item DataLoaders cost seconds per epoch on CPU);
streamed ones come from a DataLoader with workers and pinned memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

import torch
import torchvision.transforms.v2.functional as TF
from torch.utils.data import DataLoader

from ..config import ConfigError


class DataError(ConfigError):
    """Missing, corrupt or unusable data: a one-line, user-facing error."""


@dataclass(frozen=True)
class ImageSpec:
    channels: int  # 1 or 3
    size: int  # square side in px

    def __str__(self) -> str:
        return f"{self.channels}x{self.size}x{self.size}"


def fit_tensor(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [N, C, H, W] resized (shorter side, antialiased) and center-cropped to size x size."""
    if images.shape[-2:] == (size, size):
        return images
    return TF.center_crop(TF.resize(images, size, antialias=True), [size, size])


class _Batches:
    """A batch sampler whose batches are set before each pass (the loader itself lives on)."""

    def __init__(self):
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def _one_line(error: Exception) -> str:
    """A DataLoader worker re-raises with the worker's traceback in the message: keep the last line."""
    return str(error).strip().splitlines()[-1].split(": ", 1)[-1]


class ImageSplit:
    """`pixels`: uint8 [N, C, H, W] (resident) or FileImages (streamed); `labels`: int64 [N] or None."""

    def __init__(self, pixels, labels: Optional[torch.Tensor], class_names: Optional[list[str]] = None,
                 workers: int = 0, device: torch.device = torch.device("cpu")):
        self.pixels, self.labels, self.class_names = pixels, labels, class_names
        self.workers, self.device = workers, torch.device(device)
        self._loader: Optional[DataLoader] = None

    @property
    def resident(self) -> bool:
        return isinstance(self.pixels, torch.Tensor)

    @property
    def spec(self) -> ImageSpec:
        shape = self.pixels.shape[1:] if self.resident else (self.pixels.spec.channels, self.pixels.spec.size)
        return ImageSpec(shape[0], shape[-1])

    def __len__(self) -> int:
        return len(self.pixels)

    def to(self, device: torch.device) -> "ImageSplit":
        pixels = self.pixels.to(device) if self.resident else self.pixels
        labels = None if self.labels is None else self.labels.to(device)
        return ImageSplit(pixels, labels, self.class_names, self.workers, device)

    def subset(self, index: torch.Tensor) -> "ImageSplit":
        index = index.cpu()
        pixels = self.pixels[index.to(self.pixels.device)] if self.resident else self.pixels.subset(index)
        labels = None if self.labels is None else self.labels[index.to(self.labels.device)]
        return ImageSplit(pixels, labels, self.class_names, self.workers, self.device)

    def head(self, n: int) -> "ImageSplit":
        return self if n >= len(self) else self.subset(torch.arange(n))

    def shard(self, rank: int, world: int) -> "ImageSplit":
        return self if world == 1 else self.subset(torch.arange(rank, len(self), world))

    def batches(self, index_batches: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        """Float [B, C, H, W] in [0, 1] on this split's device, one per index batch, in order."""
        for pixels in self._pixel_batches(index_batches):
            yield to_float(pixels)

    def _pixel_batches(self, index_batches: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        """uint8 batches on this split's device: slices when resident, decoded files when streamed."""
        if self.resident:
            for idx in index_batches:
                yield self.pixels[idx.to(self.pixels.device)]
            return
        loader = self._stream_loader()
        loader.batch_sampler.batches = [idx.tolist() for idx in index_batches]
        try:
            for batch in loader:
                yield batch.to(self.device, non_blocking=True)
        except DataError as e:
            raise DataError(_one_line(e)) from None

    def to_resident(self, batch_size: int = 500) -> "ImageSplit":
        """This split with every image decoded once into memory (itself when it already is)."""
        if self.resident:
            return self
        pixels = torch.cat(list(self._pixel_batches(torch.arange(len(self)).split(batch_size))))
        return ImageSplit(pixels, self.labels, self.class_names, self.workers, self.device)

    def in_order(self, batch_size: int) -> Iterator[torch.Tensor]:
        """Every image once, in file order."""
        return self.batches(torch.arange(len(self)).split(batch_size))

    def get(self, index: torch.Tensor) -> torch.Tensor:
        """A few images (visuals, figures) as one float batch."""
        return next(self.batches([index]))

    @property
    def images(self) -> torch.Tensor:
        """All images as one float tensor: for small resident splits (tests, a few hundred images)."""
        return self.get(torch.arange(len(self)))

    def _stream_loader(self) -> DataLoader:
        if self._loader is None:
            # Its own generator: a DataLoader otherwise draws a worker seed from the global RNG
            # at every pass, which would shift the training noise after a mid-epoch resume.
            self._loader = DataLoader(self.pixels, batch_sampler=_Batches(), num_workers=self.workers,
                                      pin_memory=self.device.type == "cuda", persistent_workers=self.workers > 0,
                                      generator=torch.Generator().manual_seed(0))
        return self._loader


def to_float(pixels: torch.Tensor) -> torch.Tensor:
    return pixels.float().div_(255.0)


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Index tensors covering a fresh permutation of range(n); the last batch may be smaller."""
    order = torch.randperm(n, generator=generator)
    yield from order.split(batch_size)


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[torch.Tensor]:
    """The batches of one epoch: a pure function of seed and epoch, so a resumed run redraws them."""
    return list(shuffled_batches(n, batch_size, torch.Generator().manual_seed(seed * 100_003 + epoch)))
