import numpy as np
import yaml
from PIL import Image

from tests.helpers import ROOT, TINY
from vaegan.programs.train import parse_train_args
from vaegan.trainer import train

GIFS = ("latent_evolution.gif", "reconstruction_evolution.gif", "samples_evolution.gif")


def gif_frames(path):
    with Image.open(path) as im:
        info = dict(im.info)
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append((im.size, im.info.get("duration")))
    return frames, info


def run(idx_dir, tmp_path, latent, epochs, *extra):
    args = ["--latent", str(latent), "--epochs", str(epochs), "--data-dir", str(idx_dir),
            "--out", str(tmp_path / f"run{latent}"), "--assets-dir", str(tmp_path / "assets"),
            "--perceptual-weight", "0", *TINY, *extra]
    (cfg,) = parse_train_args(args)
    return train(cfg)


def test_two_epochs_give_two_equal_frames_per_gif_and_the_figures(idx_dir, tmp_path):
    run(idx_dir, tmp_path, 2, 2)
    folder = tmp_path / "assets" / "latent_2"
    for name in GIFS:
        frames, info = gif_frames(folder / name)
        assert len(frames) == 2, name
        assert frames[0][0] == frames[1][0], name  # equal size
        assert info["loop"] == 0  # forever
        assert frames[0][1] == 500  # milliseconds per epoch frame
    for name in ("loss_curves.png", "metrics.png", "interpolation.png", "manifold.png"):
        assert (folder / name).stat().st_size > 1000, name


def test_resumed_run_appends_frames(idx_dir, tmp_path):
    run(idx_dir, tmp_path, 4, 1, "--use_gan")
    folder = tmp_path / "assets" / "latent_4"
    assert len(gif_frames(folder / "latent_evolution.gif")[0]) == 1
    first_frame = np.load(folder / "frames" / "latent_0001.npy")
    run(idx_dir, tmp_path, 4, 2, "--use_gan", "--resume")
    for name in GIFS:
        assert len(gif_frames(folder / name)[0]) == 2, name
    assert np.array_equal(np.load(folder / "frames" / "latent_0001.npy"), first_frame)
    assert not (folder / "manifold.png").exists()  # only for 2-d latents


def test_spatial_latent_gets_its_own_folder(idx_dir, tmp_path):
    run(idx_dir, tmp_path, 2, 1, "--latent-shape", "spatial")
    assert (tmp_path / "assets" / "latent_2-spatial" / "latent_evolution.gif").is_file()


def test_assets_default_to_the_run_folder_so_runs_never_share_frames(idx_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a run from the repository root must not touch ./assets (the gallery)
    for out, extra in (("plain", ()), ("gan", ("--use_gan",))):
        (cfg,) = parse_train_args(["--latent", "4", "--epochs", "1", "--data-dir", str(idx_dir), "--out", out,
                                   "--perceptual-weight", "0", "--wandb", "disabled", *TINY, *extra])
        train(cfg)
    assert not (tmp_path / "assets").exists()
    for out in ("plain", "gan"):
        frames = sorted(p.name for p in (tmp_path / out / "assets" / "latent_4" / "frames").glob("samples_*.png"))
        assert frames == ["samples_0001.png"], (out, frames)
        assert (tmp_path / out / "assets" / "latent_4" / "samples_evolution.gif").is_file()


def test_another_run_on_the_same_assets_folder_is_refused_before_writing(idx_dir, tmp_path):
    import pytest

    from vaegan.config import ConfigError

    run(idx_dir, tmp_path, 4, 1)
    frames = tmp_path / "assets" / "latent_4" / "frames"
    before = {p.name: p.read_bytes() for p in frames.iterdir()}
    args = ["--latent", "4", "--epochs", "1", "--data-dir", str(idx_dir), "--out", str(tmp_path / "other"),
            "--assets-dir", str(tmp_path / "assets"), "--perceptual-weight", "0", *TINY]
    with pytest.raises(ConfigError, match="holds the GIF frames of another run"):
        train(parse_train_args(args)[0])
    assert not (tmp_path / "other").exists()
    assert {p.name: p.read_bytes() for p in frames.iterdir()} == before
    run(idx_dir, tmp_path, 4, 2, "--resume")  # the owner itself goes on
    assert len(gif_frames(tmp_path / "assets" / "latent_4" / "samples_evolution.gif")[0]) == 2


def test_the_256px_recipe_trains_a_step_and_its_gifs_stay_small(tmp_path):
    """configs/unet_spatial_rgb256.yaml at its own widths, RGBA files with transparency: one epoch
    of LPIPS + PatchGAN steps, evaluation and the GIFs; grids show 256 px images at 128 px tiles."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("test", 2)):
        (tmp_path / "images" / split).mkdir(parents=True)
        for i in range(n):
            rgba = rng.integers(0, 256, (256, 256, 4), dtype=np.uint8)
            Image.fromarray(rgba, "RGBA").save(tmp_path / "images" / split / f"{i}.png")
    (cfg,) = parse_train_args(["--config", str(ROOT / "configs" / "unet_spatial_rgb256.yaml"), "--dataset", "folder",
                               "--data-dir", str(tmp_path / "images"), "--epochs", "1", "--batch-size", "2",
                               "--disc-start", "0", "--lpips-backbone", "random", "--val-images", "0",
                               "--eval-train-images", "0",
                               "--out", str(tmp_path / "run"), "--wandb", "disabled"])
    summary = train(cfg)
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert (saved["image_size"], saved["image_channels"], saved["channels"]) == (256, 3, [32, 64, 128, 128])
    assert summary["step"] == 2
    folder = tmp_path / "run" / "assets" / "latent_4-spatial"
    frames, _ = gif_frames(folder / "samples_evolution.gif")
    assert frames[0][0][0] <= 10 * 130 + 10, frames[0][0]  # ten 128 px tiles a row, not ten of 256 px
    for name in GIFS:
        assert (folder / name).stat().st_size < 2_000_000, name
