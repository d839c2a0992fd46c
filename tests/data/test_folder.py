"""Image folders: layout, modes, sizes, held-out split, resident vs streamed, bad files."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vaegan.config import build_config
from vaegan.data import DataError, load_data


def write_image(path: Path, size=(32, 32), mode="RGB", seed=0, fmt=None) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode if mode != "P" else "RGB"]
    array = rng.integers(0, 256, (h, w, channels), dtype=np.uint8).squeeze(-1) if channels == 1 else \
        rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    image = Image.fromarray(array, mode if mode != "P" else "RGB")
    if mode == "P":
        image = image.convert("P")
    image.save(path, fmt)
    return path


def image_folder(root: Path, classes=("cat", "dog"), per_class=10, size=(32, 32), mode="RGB", suffix=".png") -> Path:
    for c, name in enumerate(classes):
        for i in range(per_class):
            write_image(root / name / f"sub{i % 2}" / f"{i}{suffix}", size, mode, seed=100 * c + i)
    return root


def load(folder: Path, **kw):
    """(train, test, spec, summary) of a folder, without a validation split unless `kw` asks."""
    data = load_data(build_config({"dataset": "folder", "data_dir": str(folder), "workers": 0, "val_images": 0, **kw}))
    return data.train, data.test, data.spec, data.summary


def test_nested_rgb_class_folders_become_labels_and_a_seeded_held_out_split(tmp_path):
    folder = image_folder(tmp_path / "pets", suffix=".jpg")
    train, test, spec, summary = load(folder, test_fraction=0.25)
    assert (spec.channels, spec.size) == (3, 32)
    assert (len(train), len(test)) == (15, 5)
    assert train.class_names == ["cat", "dog"] and set(train.labels.tolist()) | set(test.labels.tolist()) == {0, 1}
    assert train.images.shape == (15, 3, 32, 32) and train.resident and "resident as uint8" in summary
    again = load(folder, test_fraction=0.25)[1]
    other = load(folder, test_fraction=0.25, split_seed=1)[1]
    assert torch.equal(load(folder, test_fraction=0.25, seed=1)[1].images, test.images)  # --seed does not move it
    assert torch.equal(again.images, test.images) and not torch.equal(other.images, test.images)


def test_pixels_are_the_files_pixels(tmp_path):
    path = write_image(tmp_path / "f" / "a.png", (32, 32), "RGB", seed=3)
    write_image(tmp_path / "f" / "b.png", (32, 32), "RGB", seed=4)
    train, test, _, _ = load(tmp_path / "f", test_fraction=0.5)
    expected = torch.from_numpy(np.array(Image.open(path))).permute(2, 0, 1).float() / 255
    assert any(torch.equal(s.images[0], expected) for s in (train, test))
    assert train.labels is None  # no class sub-folders: no labels


def test_train_and_test_subfolders_are_the_splits(tmp_path):
    image_folder(tmp_path / "d" / "train", per_class=4)
    image_folder(tmp_path / "d" / "test", per_class=2)
    train, test, _, _ = load(tmp_path / "d")
    assert (len(train), len(test)) == (8, 4) and test.class_names == ["cat", "dog"]


def test_grayscale_stays_one_channel_and_mixed_modes_become_rgb_on_white(tmp_path):
    gray = image_folder(tmp_path / "gray", mode="L")
    assert load(gray)[2].channels == 1
    mixed = tmp_path / "mixed"
    write_image(mixed / "a.png", mode="L")
    write_image(mixed / "b.png", mode="P", seed=1)
    clear = np.zeros((32, 32, 4), dtype=np.uint8)  # fully transparent
    Image.fromarray(clear, "RGBA").save(mixed / "c.png")
    write_image(mixed / "d.webp", mode="RGB", seed=2)
    train, test, spec, _ = load(mixed, test_fraction=0.5)
    assert spec.channels == 3
    every = torch.cat([train.images, test.images])
    assert any(bool((img == 1.0).all()) for img in every)  # the transparent image is white
    assert load(mixed, test_fraction=0.5, image_channels=1)[2].channels == 1


def test_image_size_resizes_and_center_crops_any_shape(tmp_path):
    folder = tmp_path / "sizes"
    write_image(folder / "a.png", (64, 48))
    write_image(folder / "b.png", (40, 80))
    with pytest.raises(DataError, match="not all one square size.*--image-size"):
        load(folder, test_fraction=0.5)
    train, _, spec, _ = load(folder, test_fraction=0.5, image_size=32)
    assert spec.size == 32 and train.images.shape[-2:] == (32, 32)
    with pytest.raises(DataError, match=r"b.png is 40x80, smaller than --image-size 48"):
        load(folder, test_fraction=0.5, image_size=48)


@pytest.mark.parametrize("damage, message", [
    ("not an image", "not a readable image"),
    ("truncated", "cannot decode the image"),
    ("16-bit", "are not supported"),
])
def test_a_bad_file_is_named_in_one_line(tmp_path, damage, message):
    folder = image_folder(tmp_path / "d", per_class=3)
    bad = folder / "dog" / "bad.png"
    if damage == "not an image":
        bad.write_bytes(b"this is text")
    elif damage == "truncated":
        write_image(bad, (32, 32))
        bad.write_bytes(bad.read_bytes()[:200])
    else:
        Image.fromarray(np.zeros((32, 32), dtype=np.uint16)).save(bad)
    with pytest.raises(DataError, match=message) as info:
        load(folder)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_empty_folders_and_missing_folders(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="holds no images"):
        load(tmp_path / "empty")
    with pytest.raises(DataError, match="does not exist"):
        load(tmp_path / "nowhere")
    write_image(tmp_path / "one" / "a.png")
    with pytest.raises(DataError, match="leaves an empty split"):
        load(tmp_path / "one")


def test_streamed_batches_equal_resident_ones_and_errors_stay_one_line(tmp_path):
    folder = image_folder(tmp_path / "d", per_class=8, mode="RGB")
    resident, _, _, _ = load(folder)
    streamed, _, _, summary = load(folder, workers=2, data_memory_mb=0)
    assert not streamed.resident and "streamed from disk with 2 workers" in summary
    order = torch.randperm(len(resident), generator=torch.Generator().manual_seed(0)).split(5)
    for a, b in zip(resident.batches(order), streamed.batches(order)):
        assert torch.equal(a, b)
    assert torch.equal(streamed.get(torch.tensor([3, 1])), resident.get(torch.tensor([3, 1])))
    decoded = streamed.to_resident(batch_size=5)  # what eval.py reads every metric from
    assert decoded.resident and torch.equal(decoded.pixels, resident.pixels) and resident.to_resident() is resident
    victim = streamed.pixels.paths[2]
    victim.write_bytes(victim.read_bytes()[:100])  # broken after the scan: found while streaming
    with pytest.raises(DataError, match="cannot decode the image") as info:
        list(streamed.in_order(4))
    assert str(victim) in str(info.value) and "\n" not in str(info.value)
