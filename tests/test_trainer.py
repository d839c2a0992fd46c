import math
import subprocess
import sys

import pytest
import torch
import yaml

from tests.helpers import FASHION, ROOT, TINY
from vaegan.config import ConfigError
from vaegan.logger import read_metrics
from vaegan.programs.train import parse_train_args
from vaegan.trainer import Trainer


def run_cli(*args, cwd):
    """train.py in a scratch folder, so default outputs (runs/, assets/, wandb/) stay out of the repo."""
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_end_to_end_cli_run_writes_the_run_files_and_resumes(idx_dir, tmp_path):
    out = tmp_path / "run"
    args = ["--latent", "4", "--use_gan", "--data-dir", str(idx_dir), "--out", str(out), *TINY]
    first = run_cli(*args, "--epochs", "1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "RANDOM VGG backbone" in (out / "log.txt").read_text()
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["latent"] == 4 and config["use_gan"] is True
    (epoch1,) = read_metrics(out / "metrics.jsonl")
    for key in ("epoch", "train/loss", "train/rec", "train/kl", "train/lpips", "train/g_loss",
                "train/d_loss", "test/mse", "test/psnr", "test/ssim"):
        assert key in epoch1, key
    ckpt = torch.load(out / "checkpoints" / "last.pt", weights_only=False)
    assert {"model", "discriminator", "opt_g", "opt_d", "epoch", "step", "config"} <= set(ckpt)
    assert ckpt["epoch"] == 1 and ckpt["step"] == 4  # 64 images / batch 16

    again = run_cli(*args, "--epochs", "1", cwd=tmp_path)
    assert again.returncode == 2 and "already holds a run" in again.stderr
    assert len(read_metrics(out / "metrics.jsonl")) == 1

    resumed = run_cli(*args, "--epochs", "2", "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert [m["epoch"] for m in read_metrics(out / "metrics.jsonl")] == [1, 2]
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=False)["step"] == 8
    assert (out / "assets" / "latent_4" / "latent_evolution.gif").is_file()  # per-run assets
    assert not (tmp_path / "assets").exists()


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_baselines_train_on_the_same_harness(idx_dir, tmp_path, arch):
    (cfg,) = parse_train_args(["--arch", arch, "--latent", "2", "--perceptual-weight", "0", "--epochs", "1",
                               "--data-dir", str(idx_dir), "--out", str(tmp_path / arch), *TINY])
    trainer = Trainer(cfg)
    before = trainer.eval_metrics()["test/neg_elbo"]
    metrics = trainer.fit()
    assert metrics["epoch"] == 1 and metrics["test/neg_elbo"] < before - 10, (before, metrics["test/neg_elbo"])


def test_incompatible_checkpoint_is_refused(idx_dir, tmp_path):
    common = ["--data-dir", str(idx_dir), "--out", str(tmp_path / "r"), "--epochs", "1",
              "--perceptual-weight", "0", *TINY]
    Trainer(parse_train_args(["--latent", "4", *common])[0]).fit()
    with pytest.raises(ConfigError, match="latent: 4 in checkpoint, 8 now"):
        Trainer(parse_train_args(["--latent", "8", "--resume", *common])[0])


@pytest.mark.parametrize("args, message", [  # the full table is in test_bad_input.py, in-process
    (["--latent", "0"], "latent must be >= 1"),
    (["--data-dir", "/nonexistent"], "does not exist"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, idx_dir, args, message):
    out = tmp_path / "run"
    data = [] if "--data-dir" in args else ["--data-dir", str(idx_dir)]
    result = run_cli("--out", str(out), "--epochs", "1", *data, *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and not out.exists()


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(not FASHION.is_dir(), reason="needs Debian's dataset-fashion-mnist (.ci/run installs it)")
def test_short_real_fashion_mnist_run_beats_its_initialisation(tmp_path):
    (cfg,) = parse_train_args(["--dataset", "fashion-mnist", "--latent", "16", "--limit-train", "2000",
                               "--limit-test", "500", "--epochs", "2", "--perceptual-weight", "0",
                               "--lr", "2e-3", "--out", str(tmp_path / "fm"), *TINY])
    trainer = Trainer(cfg)
    before = trainer.eval_metrics()["test/mse"]
    after = trainer.fit()["test/mse"]
    # Predicting the training set's mean image scores about what half the initial MSE is; a model
    # that learned anything per image must beat it by a clear margin.
    mean_image = trainer.train_data.images.mean(0, keepdim=True)
    mean_mse = (trainer.test_data.images - mean_image).pow(2).mean().item()
    assert after < 0.5 * before and after < 0.6 * mean_mse, (before, mean_mse, after)


def test_compile_flag_trains(idx_dir, tmp_path):
    """--compile wraps the training networks in torch.compile; an MLP keeps the compile short."""
    (cfg,) = parse_train_args(["--arch", "mlp", "--latent", "2", "--perceptual-weight", "0", "--epochs", "1",
                               "--use_gan", "--compile", "--no-visuals", "--data-dir", str(idx_dir),
                               "--out", str(tmp_path / "c"), *TINY])
    import torch._dynamo

    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    trainer = Trainer(cfg)
    metrics = trainer.fit()
    assert metrics["epoch"] == 1 and math.isfinite(metrics["train/loss"])
    # Dynamo really compiled graphs of the step (a wrapper alone would count none).
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1


def test_a_compiled_step_gives_the_eager_gradients(idx_dir, tmp_path):
    common = ["--arch", "mlp", "--latent", "2", "--perceptual-weight", "0", "--use_gan", "--no-visuals",
              "--precision", "fp32", "--data-dir", str(idx_dir), *TINY]
    grads = {}
    for mode in ("eager", "compiled"):
        torch.manual_seed(0)
        compiled = ["--compile"] if mode == "compiled" else []
        (cfg,) = parse_train_args([*common, "--out", str(tmp_path / mode), *compiled])
        trainer = Trainer(cfg)
        torch.manual_seed(1)  # the same posterior noise in both
        assert trainer.train_step(trainer.train_data.get(torch.arange(16)), 16) is not None
        grads[mode] = {k: p.grad.clone() for k, p in trainer.model.named_parameters()}
    for k, g in grads["eager"].items():
        assert torch.allclose(grads["compiled"][k], g, rtol=1e-4, atol=1e-6), k


def test_an_rgb_image_folder_trains_evaluates_and_samples_at_its_own_size(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    import vaegan
    from tests.data.test_folder import image_folder
    from vaegan.programs.eval import main as eval_main
    from vaegan.programs.train import main as train_main

    folder = image_folder(tmp_path / "pets", per_class=12, size=(40, 40), suffix=".jpg")
    out = tmp_path / "run"
    assert train_main(["--dataset", "folder", "--data-dir", str(folder), "--image-size", "32", "--test-fraction",
                       "0.25", "--latent", "4", "--use_gan", "--epochs", "1", "--out", str(out), "--workers", "0",
                       "--perceptual-weight", "0.1", "--wandb", "disabled", *TINY]) == 0
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert (config["image_channels"], config["image_size"], config["channels"]) == (3, 32, [8, 16, 16])
    assert "data: folder, 17 train / 1 val / 6 test images, 3x32x32 px, 2 classes, resident as uint8" in \
        (out / "log.txt").read_text()
    frame = np.asarray(Image.open(out / "assets" / "latent_4" / "frames" / "recon_0001.png"))
    assert frame.ndim == 3 and (frame[..., 0] != frame[..., 1]).any()  # colour, not gray
    assert eval_main(["--checkpoint", str(out / "checkpoints" / "last.pt"), "--no-fid", "--iw-samples", "2",
                      "--json", str(tmp_path / "m.json")]) == 0
    assert "test/domain_fd_recon" in capsys.readouterr().out
    model = vaegan.load(out / "checkpoints" / "last.pt", device="cpu")
    assert model.sample(3, seed=0).shape == (3, 3, 32, 32)
    from vaegan.programs.export import main as export_main

    assert export_main(["--checkpoint", str(out / "checkpoints" / "last.pt"), "--out", str(tmp_path / "exp")]) == 0
    exported = vaegan.load(tmp_path / "exp", device="cpu")  # rebuilt at 3x32x32 from config.json alone
    assert torch.equal(exported.sample(3, seed=0), model.sample(3, seed=0))


def test_a_broken_image_folder_exits_2_and_writes_nothing(tmp_path):
    from tests.data.test_folder import image_folder

    folder = image_folder(tmp_path / "pets", per_class=4)
    (folder / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "run"
    result = run_cli("--dataset", "folder", "--data-dir", str(folder), "--out", str(out), "--epochs", "1",
                     "--workers", "0", *TINY, cwd=tmp_path)
    assert result.returncode == 2 and "broken.png" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()


def test_a_long_run_says_so_early_with_the_quick_command(idx_dir, tmp_path, monkeypatch):
    import vaegan.trainer as trainer_module

    clock = iter(range(0, 10 ** 9, 3600))  # every reading of the clock: another hour
    monkeypatch.setattr(trainer_module.time, "perf_counter", lambda: next(clock))
    (cfg,) = parse_train_args(["--latent", "2", "--data-dir", str(idx_dir), "--out", str(tmp_path / "run"),
                               "--epochs", "2", "--no-visuals", "--perceptual-weight", "0", "--wandb", "disabled",
                               *TINY[:-6], "--batch-size", "1"])
    Trainer(cfg).fit()
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "the steps left take about" in log and f"--limit-train 64 --epochs 3 --out {tmp_path / 'run'}-quick" in log
    assert log.count("NOTE:") == 1


def test_under_bf16_every_network_of_the_step_runs_in_bf16_and_every_loss_in_fp32(idx_dir, tmp_path):
    """The README's precision claims, checked part by part on a real G + D step."""
    (cfg,) = parse_train_args(["--latent", "4", "--use_gan", "--data-dir", str(idx_dir), "--out", str(tmp_path / "r"),
                               "--precision", "bf16", "--perceptual-weight", "1", "--no-visuals", "--wandb",
                               "disabled", *TINY])
    trainer = Trainer(cfg)
    seen: dict[str, set] = {}

    def record(name):
        def hook(module, args, output):
            seen.setdefault(name, set()).add(output.dtype)
        return hook

    trainer.model.encoder.conv_in.register_forward_hook(record("encoder"))
    trainer.model.decoder.conv_out.register_forward_hook(record("decoder"))
    trainer.loss_fn.discriminator.net[0].register_forward_hook(record("discriminator"))
    trainer.loss_fn.perceptual.net.slice1.register_forward_hook(record("lpips_vgg"))
    # The generator's pass through D goes through functional_call: the same module, the same hook.
    x = trainer.train_data.get(torch.arange(16))
    logs = trainer.train_step(x, 16)
    assert logs is not None
    for part in ("encoder", "decoder", "discriminator", "lpips_vgg"):
        assert seen[part] == {torch.bfloat16}, (part, seen[part])
    for name in ("rec", "kl", "lpips", "g_loss", "d_weight", "loss", "d_loss", "d_real", "d_fake"):
        assert logs[name].dtype == torch.float32, name


def test_eval_every_and_eval_images_control_the_evaluation_cost(idx_dir, tmp_path):
    from vaegan.evaluation.metrics import split_metrics

    (cfg,) = parse_train_args(["--latent", "2", "--data-dir", str(idx_dir), "--out", str(tmp_path / "r"),
                               "--epochs", "3", "--eval-every", "2", "--eval-images", "8", "--no-visuals",
                               "--perceptual-weight", "0", "--wandb", "disabled", *TINY])
    trainer = Trainer(cfg)
    last = trainer.fit()
    records = read_metrics(tmp_path / "r" / "metrics.jsonl")
    assert [("test/mse" in r, "time/eval_s" in r) for r in records] == [(False, False), (True, True), (True, True)]
    assert len(trainer.eval_data) == 8 and len(trainer.test_data) == 32
    again = split_metrics(trainer.eval_model, trainer.loss_fn, trainer.eval_data, 32, "test", trainer.amp_dtype)
    assert again["test/mse"] == pytest.approx(last["test/mse"], rel=1e-5)
    assert torch.load(tmp_path / "r" / "checkpoints" / "best.pt", weights_only=False)["epoch"] in (2, 3)


@pytest.mark.parametrize("fast_bf16", [False, True])
def test_bf16_asked_for_on_a_cpu_without_fast_bf16_is_warned_about(idx_dir, tmp_path, monkeypatch, fast_bf16):
    import vaegan.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "cpu_has_fast_bf16", lambda: fast_bf16)
    (cfg,) = parse_train_args(["--latent", "2", "--precision", "bf16", "--device", "cpu", "--data-dir", str(idx_dir),
                               "--out", str(tmp_path / "run"), "--perceptual-weight", "0", "--wandb", "disabled",
                               *TINY])
    Trainer(cfg)
    log = tmp_path / "run" / "log.txt"  # written on the first line logged
    warned = log.exists() and "bf16 on a CPU without AMX or AVX512-BF16 is emulated" in log.read_text()
    assert warned == (not fast_bf16)


@pytest.mark.parametrize("decoder", ["sigmoid", "linear"])
def test_each_critic_trains_on_exactly_the_images_the_generators_term_shows_it(idx_dir, tmp_path, decoder):
    """Real vs fake as the generator presents fakes: the same output transform, unclamped on both sides."""
    (cfg,) = parse_train_args(["--latent", "4", "--use_gan", "--gan-samples", "--perceptual-weight", "0",
                               "--decoder-output", decoder, "--recon-loss", "mse", "--no-visuals",
                               "--wandb", "disabled", "--precision", "fp32", "--data-dir", str(idx_dir),
                               "--out", str(tmp_path / "run"), *TINY])
    trainer = Trainer(cfg)
    seen = {name: [] for name in ("discriminator", "sample_discriminator")}
    for name in seen:
        trainer.critics[name].register_forward_pre_hook(lambda _, inputs, name=name: seen[name].append(inputs[0]))
    with torch.no_grad():  # a linear decoder at initialisation barely leaves [0, 1]: make it leave
        trainer.model.decoder.conv_out.bias.add_(0.8 if decoder == "linear" else 3.0)
    x = trainer.train_data.get(torch.arange(cfg.batch_size))
    assert trainer.train_step(x, cfg.batch_size) is not None
    for name, calls in seen.items():  # the first call is the generator's term, the last the critic's update
        shown_to_generator, critic_batch = calls[0], calls[-1]
        assert torch.equal(critic_batch[:len(x)], x), name
        assert torch.equal(critic_batch[len(x):], shown_to_generator.detach()), name
    if decoder == "linear":
        assert seen["discriminator"][0].max() > 1.0  # the case where clamping would differ
