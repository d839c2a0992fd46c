import pytest
import yaml

from vaegan.cli import parse_train_args, train_parser
from vaegan.config import FIELDS, ConfigError, build_config, load_yaml


def test_every_config_field_has_a_flag_with_help():
    text = train_parser().format_help()
    for name, f in FIELDS.items():
        assert "--" + name.replace("_", "-") in text
        assert f.metadata["help"]


def test_yaml_then_flags_override(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump({"latent": 16, "lr": 0.01, "use_gan": True}))
    (cfg,) = parse_train_args(["--config", str(cfg_file), "--lr", "0.002"])
    assert (cfg.latent, cfg.lr, cfg.use_gan) == (16, 0.002, True)


def test_latent_sweep_gives_one_config_per_size():
    configs = parse_train_args(["--latent", "2", "4", "16", "--use_gan"])
    assert [c.latent for c in configs] == [2, 4, 16]
    assert [str(c.run_dir()) for c in configs] == [f"runs/mnist-latent{n}-gan" for n in (2, 4, 16)]


def test_underscore_and_dash_spellings_are_the_same_flag():
    assert parse_train_args(["--use_gan"])[0].use_gan and parse_train_args(["--use-gan"])[0].use_gan


@pytest.mark.parametrize("overrides, message", [
    ({"latnet": 3}, "unknown config key 'latnet'"),
    ({"latent": 0}, "latent must be >= 1"),
    ({"lr": 0.0}, "lr must be > 0"),
    ({"batch_size": "64"}, "batch_size' must be int"),
    ({"use_gan": 1}, "use_gan' must be bool"),
    ({"dataset": "cifar"}, "dataset must be one of"),
    ({"channels": [32]}, "channels must list at least 2 levels"),
    ({"channels": [32, 64, 128, 128], "image_size": 28}, "28 px does not halve 3 times"),
    ({"image_size": 30, "channels": [32, 64, 128]}, "30 px does not halve 2 times"),
    ({"image_channels": 2}, "image_channels must be one of 1, 3"),
    ({"arch": "mlp", "latent_shape": "spatial"}, "needs --arch unet"),
])
def test_bad_values_are_rejected_with_a_clear_message(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        build_config(overrides)


def test_shipped_recipes_load(tmp_path):
    from tests.conftest import ROOT
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        build_config(load_yaml(str(path)))


def test_every_flag_is_documented_in_the_readme():
    from tests.conftest import ROOT
    readme = (ROOT / "README.md").read_text()
    missing = [n for n in FIELDS if "--" + n.replace("_", "-") not in readme]
    assert not missing, missing


def test_the_quickstart_command_and_the_default_recipe_file_are_one_recipe():
    from tests.conftest import ROOT

    (command,) = parse_train_args(["--latent", "4", "--use_gan"])
    (recipe,) = parse_train_args(["--config", str(ROOT / "configs" / "unet_vaegan.yaml")])
    differ = {k: (v, getattr(recipe, k)) for k, v in command.to_dict().items() if getattr(recipe, k) != v}
    assert not differ, differ


@pytest.mark.parametrize("flags, recipe", [
    ([], (0.0, 0.0, False)),
    (["--use_gan"], (200.0, 1.0, False)),
    (["--use_gan", "--latent", "16"], (200.0, 1.0, True)),
    (["--use_gan", "--latent", "8"], (200.0, 1.0, False)),
    (["--use_gan", "--latent-shape", "spatial"], (0.0, 0.0, False)),
    (["--use_gan", "--arch", "conv"], (0.0, 0.0, False)),
    (["--use_gan", "--swd-weight", "0", "--disc-feature-weight", "0.5", "--no-gan-samples"], (0.0, 0.5, False)),
])
def test_swd_d_features_and_gan_samples_are_on_by_default_only_where_they_were_measured(flags, recipe):
    (cfg,) = parse_train_args(flags)
    assert (cfg.swd_weight, cfg.disc_feature_weight, cfg.gan_samples) == recipe


def test_a_bad_yaml_value_is_an_error_even_when_a_flag_overrides_it(tmp_path, capsys):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("epochs: 99x\n")
    with pytest.raises(SystemExit) as exit_info:
        parse_train_args(["--config", str(cfg_file), "--epochs", "1"])
    assert exit_info.value.code == 2 and "epochs' must be int" in capsys.readouterr().err
