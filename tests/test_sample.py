import numpy as np
import pytest
import torch
from PIL import Image

import vaegan
from tests.helpers import call
from vaegan.programs.sample import main as sample_main


def run(argv, capsys):
    return call(sample_main, argv, capsys)


def test_prior_samples_grid_and_npy_match_the_api(tiny_run, tmp_path, capsys):
    png, npy = tmp_path / "s.png", tmp_path / "s.npy"
    code, err = run(["--checkpoint", str(tiny_run), "--num", "6", "--seed", "4", "--temperature", "0.7",
                     "--out", str(png), "--npy", str(npy)], capsys)
    assert code == 0, err
    expected = vaegan.load(tiny_run, "cpu").sample(6, "auto", 0.7, seed=4)
    images = np.load(npy)
    assert images.shape == (6, 1, 28, 28) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert np.allclose(images, expected.numpy(), atol=1e-6)
    width, height = Image.open(png).size  # 6 tiles in a row of up to 8, 2 px padding, upscaled
    assert width > 6 * 28 and height < 2 * width / 6


def test_reconstruct_a_folder_of_images_of_another_size_and_mode(tiny_run, tmp_path, capsys):
    folder = tmp_path / "mine" / "nested"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(folder / "b.jpg")
    npy = tmp_path / "r.npy"
    code, err = run(["--checkpoint", str(tiny_run), "--reconstruct", str(tmp_path / "mine"),
                     "--out", str(tmp_path / "r.png"), "--npy", str(npy)], capsys)
    assert code == 0, err
    images = np.load(npy)
    assert images.shape == (4, 1, 28, 28)  # two originals, then their reconstructions
    model = vaegan.load(tiny_run, "cpu")
    assert np.allclose(images[2:], model.reconstruct(torch.from_numpy(images[:2])).numpy(), atol=1e-6)


def test_interpolate_and_traverse_shapes(tiny_run, tmp_path, capsys):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.new("L", (28, 28), 0).save(a)
    Image.new("L", (28, 28), 255).save(b)
    npy = tmp_path / "i.npy"
    assert run(["--checkpoint", str(tiny_run), "--interpolate", str(a), str(b), "--steps", "7",
                "--out", str(tmp_path / "i.png"), "--npy", str(npy)], capsys)[0] == 0
    assert np.load(npy).shape == (7, 1, 28, 28)
    assert run(["--checkpoint", str(tiny_run), "--traverse", "--dims", "3", "--steps", "5",
                "--out", str(tmp_path / "t.png"), "--npy", str(npy)], capsys)[0] == 0
    rows = np.load(npy).reshape(3, 5, 28 * 28)
    assert np.allclose(rows[:, 2], rows[0, 2], atol=1e-6)  # the middle column is the same centre in every row


@pytest.mark.parametrize("argv, message", [
    (["--reconstruct", "MISSING"], "no such image file or folder"),
    (["--reconstruct", "BROKEN"], "cannot decode the image"),
    (["--reconstruct", "EMPTY"], "holds no images"),
    (["--num", "0"], "must be >= 1"),
    (["--sampling-steps", "0"], "must be >= 1"),
    (["--range", "0"], "sweep must be > 0"),
    (["--traverse", "--interpolate", "a.png", "b.png"], "--interpolate and --traverse draw different grids"),
])
def test_bad_input_is_one_line_and_exit_2(tiny_run, tmp_path, capsys, argv, message):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "empty").mkdir()
    names = {"MISSING": str(tmp_path / "nope.png"), "BROKEN": str(tmp_path / "broken.png"),
             "EMPTY": str(tmp_path / "empty")}
    out = tmp_path / "x.png"
    code, err = run(["--checkpoint", str(tiny_run), *[names.get(a, a) for a in argv], "--out", str(out)], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()
