"""torchvision datasets held as arrays: converted to uint8 [N, C, H, W] with their labels."""
import numpy as np
import pytest
import torch

from vaegan.config import build_config
from vaegan.data import DataError, load_data


class FakeCIFAR10:
    """What torchvision.datasets.CIFAR10 exposes: data [N, H, W, C] uint8, targets, classes."""

    def __init__(self, root, train=True, download=False):
        n = 12 if train else 6
        rng = np.random.default_rng(int(train))
        self.data = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        self.targets = [i % 10 for i in range(n)]
        self.classes = [f"class{i}" for i in range(10)]


class FakeEMNIST:
    def __init__(self, root, split="balanced", train=True, download=False):
        self.data = torch.arange(4 * 28 * 28, dtype=torch.int64).reshape(4, 28, 28).remainder(256).to(torch.uint8)
        self.targets = torch.tensor([0, 1, 2, 3])
        self.classes = ["0", "1", "2", "3"]


class Offline:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("Error downloading train_32x32.mat:\nURLError <urlopen error [Errno -3]>")


def test_cifar10_arrays_become_rgb_splits(monkeypatch):
    monkeypatch.setattr("torchvision.datasets.CIFAR10", FakeCIFAR10)
    train, _, test, spec, summary, _ = load_data(build_config({"dataset": "cifar10", "limit_test": 4, "val_images": 0}))
    assert (spec.channels, spec.size) == (3, 32) and (len(train), len(test)) == (12, 4)
    assert torch.equal(train.pixels[0], torch.from_numpy(FakeCIFAR10("x").data[0]).permute(2, 0, 1))
    assert train.class_names[3] == "class3" and train.labels[:3].tolist() == [0, 1, 2]
    assert "cifar10, 12 train / 4 test images, 3x32x32 px, 10 classes" in summary
    small = load_data(build_config({"dataset": "cifar10", "image_size": 16, "image_channels": 1, "val_images": 0}))
    assert small.train.images.shape == (12, 1, 16, 16)


def test_emnist_is_stored_transposed(monkeypatch):
    monkeypatch.setattr("torchvision.datasets.EMNIST", FakeEMNIST)
    train, _, _, spec, *_ = load_data(build_config({"dataset": "emnist", "val_images": 0}))
    assert spec.channels == 1 and torch.equal(train.pixels[1, 0], FakeEMNIST("x").data[1].T)


def test_an_offline_download_is_one_line_and_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr("torchvision.datasets.SVHN", Offline)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="could not load svhn") as info:
        load_data(build_config({"dataset": "svhn"}))
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no data/ folder, no scratch folder


def test_the_validation_split_is_held_out_from_training_seeded_and_disjoint(monkeypatch):
    """best.pt is chosen on images held out from the training split, never the test split."""
    monkeypatch.setattr("torchvision.datasets.CIFAR10", FakeCIFAR10)
    everything = load_data(build_config({"dataset": "cifar10", "val_images": 0})).train
    data = load_data(build_config({"dataset": "cifar10", "val_images": 5}))
    assert (len(data.train), len(data.val), len(data.test)) == (11, 1, 6)  # at most a tenth of 12
    assert "cifar10, 11 train / 1 val / 6 test images" in data.summary
    rows = lambda split: {tuple(img.flatten().tolist()) for img in split.pixels}  # noqa: E731
    assert rows(data.train) | rows(data.val) == rows(everything) and not rows(data.train) & rows(data.val)
    again, other = (load_data(build_config({"dataset": "cifar10", "val_images": 5, "split_seed": s})).val
                    for s in (0, 3))
    assert torch.equal(again.pixels, data.val.pixels) and not torch.equal(other.pixels, data.val.pixels)
