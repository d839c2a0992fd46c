"""A diffusers AutoencoderKL in and out: vaegan-export --format diffusers, the LatentPriorPipeline,
train.py --init-from (and --train decoder)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import vaegan
from tests.helpers import ROOT, TINY, call, make_idx_folder
from vaegan.autoencoder_kl import LATENT_KEYS, standardisation
from vaegan.checkpoint import config_from_checkpoint
from vaegan.config import ConfigError
from vaegan.data import load_data
from vaegan.programs.export import main as export_main
from vaegan.programs.train import main as train_main

QUIET = ["--perceptual-weight", "0", "--no-visuals", "--wandb", "disabled", "--eval-train-images", "0"]


@pytest.fixture(scope="session")
def spatial_run(tmp_path_factory) -> Path:
    """A tiny GAN run with a 2 x 7 x 7 latent on diffusers' blocks with a linear decoder: its last.pt."""
    root = tmp_path_factory.mktemp("spatial-run")
    data = make_idx_folder(root / "data")
    assert train_main(["--latent", "2", "--latent-shape", "spatial", "--decoder-output", "linear",
                       "--data-dir", str(data), "--out",
                       str(root / "run"), "--epochs", "1", "--use_gan", "--ema-decay", "0.9", *QUIET, *TINY]) == 0
    return root / "run" / "checkpoints" / "last.pt"


def roundtrip_matches(autoencoder, model, x: torch.Tensor) -> None:
    """AutoencoderKL's encode -> mode -> decode, mapped to [0, 1] as diffusers' image processor does,
    is the model's reconstruction."""
    with torch.no_grad():
        decoded = autoencoder.decode(autoencoder.encode(2 * x - 1).latent_dist.mode()).sample
    torch.testing.assert_close(decoded.clamp(-1, 1), 2 * model.reconstruct(x) - 1, atol=1e-4, rtol=0)


def test_a_spatial_model_exports_as_an_autoencoder_kl_that_decodes_as_it_does(spatial_run, tmp_path, capsys):
    from diffusers import AutoencoderKL

    out = tmp_path / "exported"
    code, err = call(export_main, ["--checkpoint", str(spatial_run), "--out", str(out), "--format", "diffusers"],
                     capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["vae"]  # no prior: no pipeline
    autoencoder = AutoencoderKL.from_pretrained(out / "vae")
    model = vaegan.load(spatial_run, device="cpu")
    roundtrip_matches(autoencoder, model, torch.rand(6, 1, 28, 28))
    # The scale: 1 / the spread of the training images' posterior means (2,000 asked, 57 there).
    saved = torch.load(spatial_run, weights_only=True)
    data = load_data(config_from_checkpoint(saved["config"], spatial_run))
    latents = torch.cat([model.encode(x) for x in data.train.in_order(16)])
    assert autoencoder.config.scaling_factor == pytest.approx(1 / latents.std().item(), rel=1e-3)
    assert autoencoder.config.latents_mean == pytest.approx(latents.mean((0, 2, 3)).tolist(), abs=1e-5)


def diffusers_decode_formula(module: str, marker: str) -> str:
    """The expression with which the installed diffusers pipeline `module` turns its latents into the
    VAE's: the right-hand side of its first `latents = ...` (or the `vae.decode` argument) holding `marker`."""
    import ast
    import importlib.util

    source = Path(importlib.util.find_spec("diffusers").origin).parent / "pipelines" / f"{module}.py"
    text = source.read_text()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["latents"]:
            expression = node.value
        elif isinstance(node, ast.Call) and ast.unparse(node.func) == "self.vae.decode" and node.args:
            expression = node.args[0]
        else:
            continue
        if marker in ast.unparse(expression):
            return ast.unparse(expression)
    raise AssertionError(f"no latent formula with {marker!r} in {source}")


def latents_under(formula: str, config, z: torch.Tensor) -> torch.Tensor:
    """The diffusion model's latents x whose decode by `formula` (affine per channel) is the VAE's z."""
    from types import SimpleNamespace

    def decode(x):
        names = {"self": SimpleNamespace(vae=SimpleNamespace(config=config)), "latents": x}
        if config.latents_mean is not None:
            names.update(latents_mean=torch.tensor(config.latents_mean).view(1, -1, 1, 1).double(),
                         latents_std=torch.tensor(config.latents_std).view(1, -1, 1, 1).double())
        return eval(formula, names)

    offset, slope = decode(torch.zeros_like(z)), decode(torch.ones_like(z)) - decode(torch.zeros_like(z))
    return (z - offset) / slope


def test_the_exported_latent_scale_gives_unit_variance_under_every_diffusers_pipeline_convention(
        spatial_run, tmp_path, capsys):
    from diffusers import AutoencoderKL

    out = tmp_path / "exported"
    assert call(export_main, ["--checkpoint", str(spatial_run), "--out", str(out), "--format", "diffusers"],
                capsys)[0] == 0
    config = AutoencoderKL.from_pretrained(out / "vae").config
    assert {k: config[k] is not None for k in LATENT_KEYS} == dict.fromkeys(LATENT_KEYS, True)
    model = vaegan.load(spatial_run, device="cpu")
    saved = torch.load(spatial_run, weights_only=True)
    data = load_data(config_from_checkpoint(saved["config"], spatial_run))
    z = torch.cat([model.encode(x) for x in data.train.in_order(16)]).double()
    conventions = {"SD": ("stable_diffusion/pipeline_stable_diffusion", "scaling_factor"),
                   "SDXL": ("stable_diffusion_xl/pipeline_stable_diffusion_xl", "latents_std"),
                   "SD3": ("stable_diffusion_3/pipeline_stable_diffusion_3", "shift_factor")}
    for name, (module, marker) in conventions.items():
        x = latents_under(diffusers_decode_formula(module, marker), config, z)
        assert x.var().item() == pytest.approx(1.0, rel=0.02), name  # var over all latents together
        if name != "SD":  # these two also centre
            assert abs(x.mean().item()) < 1e-3, name
        if name == "SDXL":  # per channel, and the standardisation the learned prior and the pipeline undo
            assert x.var((0, 2, 3)).tolist() == pytest.approx([1.0, 1.0], rel=0.02)
            mean, std = standardisation(config, 2)
            torch.testing.assert_close(x * std.view(1, -1, 1, 1) + mean.view(1, -1, 1, 1), z)


def test_a_model_without_an_autoencoder_kl_form_keeps_its_safetensors_export(tiny_run, tmp_path, capsys):
    from vaegan.config import build_config, with_image_spec
    from vaegan.models import build_model

    sigmoid = tmp_path / "sigmoid.pt"  # a spatial latent on diffusers' blocks, decoding through a sigmoid
    cfg = with_image_spec(build_config({"latent": 2, "latent_shape": "spatial", "channels": [8, 16]}), 1, 28)
    torch.save({"config": cfg.to_dict(), "model": build_model(cfg).state_dict(), "step": 0}, sigmoid)
    for checkpoint in (tiny_run, sigmoid):  # and a vector latent
        out = tmp_path / f"exported-{checkpoint.stem}"
        code, err = call(export_main, ["--checkpoint", str(checkpoint), "--out", str(out), "--format", "diffusers"],
                         capsys)
        assert code == 2 and "no AutoencoderKL form" in err and len(err.strip().splitlines()) == 1
        assert not out.exists()
        assert call(export_main, ["--checkpoint", str(checkpoint), "--out", str(out)], capsys)[0] == 0


def test_the_learned_prior_exports_as_a_pipeline_that_draws_what_vaegan_sample_draws(spatial_run, tmp_path, capsys):
    import shutil

    from diffusers import UNet2DModel

    from vaegan.programs.prior import main as prior_main
    from vaegan.programs.sample import main as sample_main

    shutil.copytree(spatial_run.parents[1], tmp_path / "run")
    checkpoint = tmp_path / "run" / "checkpoints" / "last.pt"
    # a v-predicting prior three levels deep (the conditional test's is an epsilon one of the default depth)
    prior_args = ["--checkpoint", str(checkpoint), "--steps", "2", "--batch-size", "32", "--width", "32",
                  "--sampling-steps", "3", "--eval-samples", "0", "--prediction", "v_prediction", "--levels", "3",
                  "--layers", "1"]
    assert call(prior_main, prior_args, capsys)[0] == 0
    out = tmp_path / "exported"
    assert call(export_main, ["--checkpoint", str(checkpoint), "--out", str(out), "--format", "diffusers"],
                capsys)[0] == 0
    assert {p.name for p in out.iterdir()} == {"vae", "unet", "scheduler", "model_index.json"}
    UNet2DModel.from_pretrained(out / "unet")
    scheduler = json.loads((out / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["_class_name"] == "DPMSolverMultistepScheduler"  # the prior's sampler, dpm by default
    assert (scheduler["algorithm_type"], scheduler["solver_order"]) == ("dpmsolver++", 2)
    assert (scheduler["timestep_spacing"], scheduler["num_train_timesteps"]) == ("leading", 1000)
    assert scheduler["prediction_type"] == "v_prediction"
    assert type(vaegan.LatentPriorPipeline.from_pretrained(out).scheduler).__name__ == "DPMSolverMultistepScheduler"
    pipe = vaegan.LatentPriorPipeline.from_pretrained(out)
    model = vaegan.load(checkpoint, device="cpu")
    for steps in (None, 5):  # None: the prior's own 3
        images = pipe(batch_size=4, num_inference_steps=steps, generator=torch.Generator().manual_seed(3),
                      output_type="pt").images
        torch.testing.assert_close(images, model.sample(4, prior="diffusion", seed=3, steps=steps), atol=1e-4, rtol=0)
    exported = vaegan.load(out, device="cpu")  # the diffusers folder is a model like any other
    drawn = exported.sample(4, prior="diffusion", seed=3)
    torch.testing.assert_close(drawn, model.sample(4, prior="diffusion", seed=3), atol=1e-4, rtol=0)
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(exported.reconstruct(x), model.reconstruct(x), atol=1e-5, rtol=0)
    code, err = call(sample_main, ["--checkpoint", str(out), "--num", "4", "--out", str(tmp_path / "s.png")], capsys)
    assert code == 0 and (tmp_path / "s.png").is_file(), err
    mean, std = standardisation(pipe.vae.config, 2)  # the pipeline undoes the prior's own standardisation
    torch.testing.assert_close(mean.float(), model.diffusion.mean.flatten())
    torch.testing.assert_close(std.float(), model.diffusion.std.flatten())
    assert len(pipe(batch_size=2, output_type="pil").images) == 2
    pipe.to(torch.bfloat16)  # a half-precision pipeline draws too (its noise in the UNet's dtype)
    assert pipe(batch_size=2, num_inference_steps=2, output_type="pt").images.shape == (2, 1, 28, 28)


SOURCE_SCALE = {"scaling_factor": 0.3611, "shift_factor": 0.1159}  # a source's own latent scale (Flux-like)


def small_autoencoder(folder: Path, channels: int, quant: bool, attention: bool = False) -> Path:
    """A randomly initialised two-level AutoencoderKL (16 px, `attention` on its top level), saved as
    diffusers saves one."""
    from diffusers import AutoencoderKL

    torch.manual_seed(1)
    top = "Attn" if attention else ""
    AutoencoderKL(in_channels=channels, out_channels=channels, block_out_channels=(8, 16), layers_per_block=1,
                  down_block_types=(f"{top}DownEncoderBlock2D", "DownEncoderBlock2D"),
                  up_block_types=("UpDecoderBlock2D", f"{top}UpDecoderBlock2D"),
                  latent_channels=3, norm_num_groups=4, sample_size=16, use_quant_conv=quant,
                  use_post_quant_conv=quant, **SOURCE_SCALE).save_pretrained(folder)
    return folder


def rgb_folder(folder: Path, n: int = 48) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        (folder / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        pixels = (rng.random((16, 16, 3)) * 64 + (i % 2) * 160).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"c{i % 2}" / f"{i}.png")
    return folder


@pytest.mark.parametrize("channels, quant", [(1, False), (3, True)])
def test_a_run_starts_from_a_diffusers_vae_and_fine_tunes_its_decoder_only(tmp_path, capsys, channels, quant):
    from diffusers import AutoencoderKL

    source = small_autoencoder(tmp_path / "ae", channels, quant)
    data = rgb_folder(tmp_path / "rgb") if channels == 3 else make_idx_folder(tmp_path / "idx")
    data_flags = ["--dataset", "folder"] * (channels == 3) + ["--data-dir", str(data)]
    run = tmp_path / "run"
    code, err = call(train_main, ["--init-from", str(source), "--train", "decoder", *data_flags, "--out", str(run),
                                  "--epochs", "1", "--batch-size", "16", "--use_gan", "--disc-start", "0",
                                  "--lpips-backbone", "random", *QUIET], capsys)
    assert code == 0, err
    config = yaml_config(run)
    assert (config["latent"], config["channels"], config["norm_groups"], config["quant_conv"]) == (3, [8, 16], 4, quant)
    assert (config["image_channels"], config["decoder_output"], config["recon_loss"]) == (channels, "linear", "l1")
    original = AutoencoderKL.from_pretrained(source).state_dict()
    trained = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]
    for key, value in original.items():  # the encoder (and so the latent space) as it came; the decoder trained
        frozen = key.startswith(("encoder.", "quant_conv."))
        assert torch.equal(trained[key], value) == frozen, key
    out = tmp_path / "exported"
    assert call(export_main, ["--checkpoint", str(run / "checkpoints" / "last.pt"), "--out", str(out),
                              "--format", "diffusers"], capsys)[0] == 0
    exported = AutoencoderKL.from_pretrained(out / "vae")
    # the latent space is the source's, so is its scale: every key exactly as the source wrote it
    source_config = AutoencoderKL.load_config(source)
    assert {k: exported.config[k] for k in LATENT_KEYS} == {k: source_config.get(k) for k in LATENT_KEYS}
    assert exported.config.scaling_factor == SOURCE_SCALE["scaling_factor"]
    # a learned prior of the fine-tune standardises as the source's pipelines do, so it exports with it
    from vaegan.programs.prior import main as prior_main

    assert call(prior_main, ["--checkpoint", str(run / "checkpoints" / "last.pt"), "--steps", "2", "--width", "16",
                             "--sampling-steps", "2", "--eval-samples", "0"], capsys)[0] == 0
    prior = vaegan.load(run / "checkpoints" / "last.pt", device="cpu").diffusion
    torch.testing.assert_close(prior.std.flatten(), torch.full((3,), 1 / SOURCE_SCALE["scaling_factor"]))
    torch.testing.assert_close(prior.mean.flatten(), torch.full((3,), SOURCE_SCALE["shift_factor"]))
    assert call(export_main, ["--checkpoint", str(run / "checkpoints" / "last.pt"), "--out", str(out),
                              "--format", "diffusers"], capsys)[0] == 0
    assert (out / "unet").is_dir()
    assert all(torch.equal(exported.state_dict()[k], v) for k, v in original.items() if k.startswith("encoder."))
    roundtrip_matches(exported, vaegan.load(run / "checkpoints" / "last.pt", device="cpu"),
                      torch.rand(3, channels, 28 if channels == 1 else 16, 28 if channels == 1 else 16))


def yaml_config(run: Path) -> dict:
    import yaml

    return yaml.safe_load((run / "config.yaml").read_text())


def test_init_from_refuses_what_it_cannot_build_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a hub id is then looked up in the local cache only
    source = small_autoencoder(tmp_path / "ae", 1, False)
    data = make_idx_folder(tmp_path / "idx")
    base = ["--init-from", str(source), "--data-dir", str(data), "--out", str(tmp_path / "run"), *QUIET]
    config = json.loads((source / "config.json").read_text())
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({**config, "act_fn": "gelu"}))
    for argv, message in [(["--latent", "8"], "drop --latent 8 (it has 3)"),
                          (["--downsample", "8"], "drop --downsample 8 (it has 2)"),
                          (["--init-from", str(tmp_path / "other")], "its activation or mid block differs"),
                          (["--init-from", str(tmp_path / "nowhere")], "no such folder"),
                          (["--init-from", str(tmp_path / "idx")], "without config.json"),
                          (["--init-from", "nobody/no-such-vae"], "cannot read an AutoencoderKL config")]:
        code, err = call(train_main, base + argv, capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


def test_the_latent_scale_is_measured_on_training_images_drawn_across_the_split(spatial_run, tmp_path, monkeypatch):
    """Not the first N: a folder stored class by class would give one or two classes."""
    from vaegan.export import training_latent_spread
    from vaegan.priors import mixture

    seen = []
    means = mixture.posterior_means
    monkeypatch.setattr(mixture, "posterior_means", lambda vae, batches: means(vae, [seen.append(b) or b
                                                                                    for b in batches]))
    model = vaegan.load(spatial_run, device="cpu")
    training_latent_spread(model, None, 8)
    train = load_data(model.config).train
    everything = torch.cat(list(train.in_order(len(train))))
    chosen = [next(i for i, image in enumerate(everything) if torch.equal(image, x)) for x in torch.cat(seen)]
    assert len(set(chosen)) == 8 and max(chosen) >= len(train) // 2, chosen


def test_a_recipe_with_init_from_trains_the_recipe_with_the_sources_model(tmp_path, capsys):
    from vaegan.programs.train import parse_train_request

    source = small_autoencoder(tmp_path / "ae", 3, True)
    recipe = ROOT / "configs" / "unet_spatial_diffusers.yaml"
    (cfg,), given, _ = parse_train_request(["--config", str(recipe), "--init-from", str(source),
                                            "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    written = yaml.safe_load(recipe.read_text())
    assert (cfg.latent, cfg.channels, cfg.norm_groups, cfg.quant_conv) == (3, [8, 16], 4, True)  # the source's
    assert (cfg.epochs, cfg.kl_weight, cfg.disc_start) == (written["epochs"], written["kl_weight"],
                                                          written["disc_start"])  # the recipe's
    assert err.count("\n") == 1 and f"replaces the recipe's latent {written['latent']} -> 3" in err, err
    code, err = call(train_main, ["--config", str(recipe), "--init-from", str(source), "--latent", "8",
                                  "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and "drop --latent 8 (it has 3)" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


def test_a_hub_pipeline_id_reads_its_weights_from_vae_where_its_config_was_found(tmp_path, monkeypatch):
    from diffusers import AutoencoderKL

    from vaegan.autoencoder_kl import load_autoencoder_weights
    from vaegan.models import UNetVAE

    local = small_autoencoder(tmp_path / "ae", 1, False)
    found = {"config": AutoencoderKL.load_config(local), "weights": AutoencoderKL.from_pretrained(local)}
    asked = []

    def hub(kind):  # a hub pipeline repo: its AutoencoderKL lives in vae/ only
        def read(where, subfolder=None, **kwargs):
            asked.append((kind, where, subfolder))
            if subfolder != "vae":
                raise OSError(f"{where} has no {kind} at its root")
            return found[kind]
        return read

    monkeypatch.setattr(AutoencoderKL, "load_config", hub("config"))
    monkeypatch.setattr(AutoencoderKL, "from_pretrained", hub("weights"))
    model = UNetVAE(3, spatial=True, channels=(8, 16), image_size=16, norm_groups=4, linear_output=True)
    load_autoencoder_weights(model, "owner/pipeline")
    assert asked[-1] == ("weights", "owner/pipeline", "vae"), asked


def test_the_sources_attention_levels_are_placed_at_the_runs_image_size(tmp_path, capsys):
    source = small_autoencoder(tmp_path / "ae", 1, False, attention=True)  # attention at 16 px, its top level
    run = tmp_path / "run"
    code, err = call(train_main, ["--init-from", str(source), "--data-dir", str(make_idx_folder(tmp_path / "idx")),
                                  "--out", str(run), "--epochs", "1", "--batch-size", "32", *QUIET], capsys)
    assert code == 0, err
    assert yaml_config(run)["attn_resolutions"] == [28]  # the top level of a 28 px run


def test_images_larger_than_the_training_size_go_through_diffusers_tiling(spatial_run, tmp_path, capsys):
    from diffusers import AutoencoderKL

    from vaegan.autoencoder_kl import tile_overlap
    from vaegan.programs.sample import main as sample_main

    model = vaegan.load(spatial_run, device="cpu")
    torch.manual_seed(0)
    big = torch.rand(2, 1, 84, 84)  # 3 x 3 training sizes
    out = tmp_path / "exported"
    assert call(export_main, ["--checkpoint", str(spatial_run), "--out", str(out), "--format", "diffusers"],
                capsys)[0] == 0
    reference = AutoencoderKL.from_pretrained(out / "vae")  # the same weights, tiled by diffusers itself
    reference.enable_tiling()
    reference.tile_sample_min_size, reference.tile_latent_min_size = 28, 7
    reference.tile_overlap_factor = tile_overlap(7, 4)  # 2 of 7 latent px: diffusers' 0.25 leaves its grid
    with torch.no_grad():
        z = reference.encode(2 * big - 1).latent_dist.mean
        expected = (reference.decode(z).sample / 2 + 0.5).clamp(0, 1)
    assert z.shape == (2, 2, 21, 21) and expected.shape == big.shape
    torch.testing.assert_close(model.encode(big), z, atol=1e-5, rtol=0)
    torch.testing.assert_close(model.reconstruct(big), expected, atol=1e-5, rtol=0)
    small = big[..., :28, :28]  # the training size: the model's own pass, as before
    torch.testing.assert_close(model.reconstruct(small), model.decode(model.vae.encode(small)[0]))
    with pytest.raises(ConfigError, match="multiple of the model's downsampling, 4"):
        model.reconstruct(torch.rand(1, 1, 30, 30))

    Image.fromarray((big[0, 0].numpy() * 255).astype(np.uint8)).save(tmp_path / "big.png")
    code, err = call(sample_main, ["--checkpoint", str(spatial_run), "--reconstruct", str(tmp_path / "big.png"),
                                   "--image-size", "84", "--out", str(tmp_path / "r.png"), "--npy",
                                   str(tmp_path / "r.npy")], capsys)
    assert code == 0, err
    assert np.load(tmp_path / "r.npy").shape == (2, 1, 84, 84)  # the original above its reconstruction
    code, err = call(sample_main, ["--checkpoint", str(spatial_run), "--image-size", "84"], capsys)
    assert code == 2 and "pass --reconstruct" in err


def test_a_model_without_tiles_refuses_a_larger_image_in_one_line(tiny_run):
    model = vaegan.load(tiny_run, device="cpu")  # a vector latent
    with pytest.raises(ConfigError, match="only a spatial latent on diffusers' blocks"):
        model.reconstruct(torch.rand(1, 1, 56, 56))


def test_the_tile_overlap_keeps_diffusers_tiling_on_the_latent_grid():
    from vaegan.autoencoder_kl import tile_overlap

    for factor in (2, 4, 8):
        for side in range(2, 65):
            overlap = tile_overlap(side, factor)
            kept = side - int(side * overlap)  # latent px diffusers keeps of each tile
            assert int(side * factor * (1 - overlap)) == kept * factor, (side, factor)  # = its step in px
            assert 0.1 <= overlap <= 0.5, (side, overlap)


def test_a_conditional_prior_exports_as_a_pipeline_that_takes_class_labels(spatial_run, tmp_path, capsys):
    import shutil

    from vaegan.programs.prior import main as prior_main

    shutil.copytree(spatial_run.parents[1], tmp_path / "run")
    checkpoint = tmp_path / "run" / "checkpoints" / "last.pt"
    assert call(prior_main, ["--checkpoint", str(checkpoint), "--steps", "2", "--batch-size", "32", "--width", "32",
                             "--sampling-steps", "3", "--eval-samples", "0", "--conditional", "--guidance", "3"],
                capsys)[0] == 0
    out = tmp_path / "exported"
    assert call(export_main, ["--checkpoint", str(checkpoint), "--out", str(out), "--format", "diffusers"],
                capsys)[0] == 0
    pipe = vaegan.LatentPriorPipeline.from_pretrained(out)
    model = vaegan.load(checkpoint, device="cpu")
    for labels, guidance in ((4, None), ([1, 2], 1.5)):
        images = pipe(batch_size=2, class_labels=labels, guidance_scale=guidance,
                      generator=torch.Generator().manual_seed(3), output_type="pt").images
        expected = model.sample(2, label=labels, guidance=guidance, seed=3)
        torch.testing.assert_close(images, expected, atol=1e-4, rtol=0)
        from_folder = vaegan.load(out, device="cpu").sample(2, label=labels, guidance=guidance, seed=3)
        torch.testing.assert_close(from_folder, expected, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="class_labels must lie in 0-9"):
        pipe(batch_size=1, class_labels=10)


@pytest.mark.parametrize("recipe, size", [("unet_spatial_rgb64.yaml", 64), ("unet_spatial_rgb256.yaml", 128),
                                          ("unet_spatial_diffusers.yaml", 28)])
def test_every_recipe_for_diffusers_users_exports_as_an_autoencoder_kl(recipe, size, tmp_path, capsys):
    from diffusers import AutoencoderKL

    from vaegan.autoencoder_kl import as_autoencoder_kl
    from vaegan.config import with_image_spec
    from vaegan.models import build_model
    from vaegan.programs.train import parse_train_args

    (cfg,) = parse_train_args(["--config", str(ROOT / "configs" / recipe)])
    cfg = with_image_spec(cfg, 3 if "rgb" in recipe else 1, size)
    checkpoint = tmp_path / "recipe.pt"
    torch.save({"config": cfg.to_dict(), "model": build_model(cfg).state_dict(), "step": 0, "epoch": 0}, checkpoint)
    statistics = {"scaling_factor": 1.0, "shift_factor": 0.0, "latents_mean": [0.0] * cfg.latent,
                  "latents_std": [1.0] * cfg.latent}
    autoencoder = as_autoencoder_kl(vaegan.load(checkpoint, device="cpu").vae, statistics)
    assert isinstance(autoencoder, AutoencoderKL) and autoencoder.config.latent_channels == cfg.latent
