from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import make_idx_folder, write_idx
from vaegan.config import Config, build_config
from vaegan.data import DataError, load_data, load_split, read_idx, resolve_data_dir, shuffled_batches


@pytest.mark.parametrize("gz", [False, True])
def test_idx_roundtrip(tmp_path, gz):
    array = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    path = write_idx(tmp_path / "x-idx3-ubyte", array, gz)
    assert torch.equal(read_idx(path), torch.from_numpy(array.astype(np.uint8)))


def test_split_is_float_in_unit_range_and_limited(tmp_path):
    folder = make_idx_folder(tmp_path, n_train=40, n_test=20, gz=True)
    split = load_split(folder, "train", limit=25)
    assert split.images.shape == (25, 1, 28, 28) and split.images.dtype == torch.float32
    assert 0 <= split.images.min() and split.images.max() <= 1
    assert split.labels.tolist() == [i % 10 for i in range(25)]


def corrupt(folder, name, data):
    (folder / name).write_bytes(data)


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b"\x00\x00\x09\x03" + b[4:], "bad IDX magic"),
    (lambda b: b[:-7], "truncated or corrupt"),
    (lambda b: b[:10], "truncated inside its header"),
])
def test_corrupt_images_give_data_errors(tmp_path, mutate, message):
    folder = make_idx_folder(tmp_path)
    raw = (folder / "train-images-idx3-ubyte").read_bytes()
    corrupt(folder, "train-images-idx3-ubyte", mutate(raw))
    with pytest.raises(DataError, match=message):
        load_split(folder, "train")


def test_idx_of_another_size_loads_but_splits_must_agree(tmp_path):
    folder = make_idx_folder(tmp_path)
    write_idx(folder / "train-images-idx3-ubyte", np.zeros((64, 32, 32)))
    assert load_split(folder, "train").pixels.shape == (64, 1, 32, 32)
    with pytest.raises(DataError, match=r"train images are \(32, 32\) px, test images \(28, 28\)"):
        load_data(build_config({"data_dir": str(folder)}))


def test_label_count(tmp_path):
    folder = make_idx_folder(tmp_path)
    write_idx(folder / "train-images-idx3-ubyte", np.zeros((64, 28, 28)))
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(63))
    with pytest.raises(DataError, match="63 labels for 64 images"):
        load_split(folder, "train")


@pytest.mark.parametrize("garbage", ["truncated", "not gzip"])
def test_gzip_garbage(tmp_path, garbage):
    folder = make_idx_folder(tmp_path, gz=True)
    path = folder / "t10k-images-idx3-ubyte.gz"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] if garbage == "truncated" else b"garbage" + raw)
    with pytest.raises(DataError, match="not a valid gzip"):
        load_split(folder, "test")


def test_shuffled_batches_cover_every_index_once():
    batches = list(shuffled_batches(10, 4, torch.Generator().manual_seed(0)))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))


def test_failed_download_is_one_line_and_leaves_no_partial_data(tmp_path, monkeypatch):
    import torchvision

    class FlakyMNIST:
        def __init__(self, root, train, download):
            raw = Path(root) / "MNIST" / "raw"
            raw.mkdir(parents=True)
            (raw / "train-images-idx3-ubyte.gz").write_bytes(b"half a file")
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried a mirror, got:\n<urlopen error>")

    monkeypatch.setattr(torchvision.datasets, "MNIST", FlakyMNIST)
    with pytest.raises(DataError, match="could not download mnist") as err:
        resolve_data_dir(Config(dataset="mnist"), download_root=tmp_path / "data")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "data").exists() and list(tmp_path.iterdir()) == []  # not even an empty folder


def test_fashion_mnist_is_found_in_the_debian_folder(monkeypatch, tmp_path):
    folder = make_idx_folder(tmp_path / "debian")
    monkeypatch.setattr("vaegan.data.idx.DEBIAN_FASHION_MNIST", folder)
    assert resolve_data_dir(Config(dataset="fashion-mnist"), download_root=tmp_path / "none") == folder


def test_a_completed_download_is_moved_into_place(monkeypatch, tmp_path):
    import torchvision

    class GoodMNIST:
        def __init__(self, root, train=True, download=False):
            make_idx_folder(Path(root) / "MNIST" / "raw")

    monkeypatch.setattr(torchvision.datasets, "MNIST", GoodMNIST)
    folder = resolve_data_dir(Config(dataset="mnist"), download_root=tmp_path / "data")
    assert folder == tmp_path / "data" / "MNIST" / "raw" and len(load_split(folder, "train")) == 64
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # the scratch folder is gone
