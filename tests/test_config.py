import pytest
import yaml

from vaegan.config import FIELDS, ConfigError, build_config, load_yaml
from vaegan.programs.train import parse_train_args, train_parser


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
    ({"ema_decay": 1.0}, "ema_decay must be < 1"),
    ({"test_fraction": 1.0}, "test_fraction must be < 1"),
    ({"downsample": 6}, "downsample must be one of 2, 4, 8"),
    ({"downsample": 8, "arch": "conv"}, "--downsample needs --arch unet"),
    ({"downsample": 8, "channels": [32, 64, 128]}, "--downsample 8 needs 4 levels, but --channels lists 3"),
    ({"downsample": 8, "image_size": 28}, "28 px does not halve 3 times.*or a smaller --downsample"),
])
def test_bad_values_are_rejected_with_a_clear_message(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        build_config(overrides)


def test_shipped_recipes_load(tmp_path):
    from tests.helpers import ROOT
    from vaegan.options import build_options
    from vaegan.priors.training import PriorConfig
    from vaegan.programs.prior import read_recipe

    training = [p for p in sorted((ROOT / "configs").glob("*.yaml")) if not p.name.startswith("prior_")]
    priors = sorted((ROOT / "configs").glob("prior_*.yaml"))
    assert training and priors
    for path in training:
        build_config(load_yaml(str(path)))
    for path in priors:  # vaegan-prior --config recipes
        build_options(PriorConfig, {"checkpoint": "x.pt", **read_recipe(str(path))})


def test_every_flag_the_docs_name_exists():
    """README and docs/ may only name flags the programs have (docs/cli.md lists them all)."""
    import re

    from tests.helpers import ROOT
    from vaegan.programs.eval import eval_parser
    from vaegan.programs.export import export_parser
    from vaegan.programs.prior import prior_parser
    from vaegan.programs.sample import sample_parser

    known = {flag for parser in (train_parser(), eval_parser(), sample_parser(), export_parser(), prior_parser())
             for flag in parser._option_string_actions}
    others = {"--standalone", "--nproc_per_node", "--nnodes", "--node_rank", "--rdzv_backend", "--rdzv_endpoint",
              "--logdir"}  # torchrun, tensorboard
    pages = [ROOT / "README.md"] + [p for p in sorted((ROOT / "docs").glob("*.md")) if p.name != "results.md"]
    named = {(page.name, flag) for page in pages for flag in re.findall(r"(?<![\w-])--[a-z][\w-]*\w", page.read_text())}
    unknown = sorted((page, flag) for page, flag in named if flag not in known | others)
    assert not unknown, unknown


def test_the_priors_settings_are_range_checked_by_the_shared_machinery():
    from vaegan.options import build_options
    from vaegan.priors.training import PriorConfig

    for values, message in [({"ema_decay": 1.0}, "ema_decay must be < 1"), ({"lr": 0.0}, "lr must be > 0"),
                            ({"sampler": "euler"}, "sampler must be one of ddim, dpm")]:
        with pytest.raises(ConfigError, match=message):
            build_options(PriorConfig, {"checkpoint": "x.pt", **values})
