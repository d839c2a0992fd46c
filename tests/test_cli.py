"""The command-line shell: grouped --help, the generated flag reference, fast help, one way to name a model."""
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml
from PIL import Image

from tests.helpers import ROOT, call
from vaegan.config import FIELDS, GROUP_ORDER, GROUPS, RESUME_MAY_CHANGE
from vaegan.options import REQUIRED as REQUIRED_MARK
from vaegan.programs.docs import cli_markdown
from vaegan.programs.train import main as train_main
from vaegan.programs.train import train_parser


def test_every_field_names_one_help_group_and_resumes_as_it_declares():
    assert all(f.metadata["group"] in GROUP_ORDER for f in FIELDS.values())
    assert sorted(name for names in GROUPS.values() for name in names) == sorted(FIELDS)
    assert {"epochs", "out", "wandb", "data_dir"} <= RESUME_MAY_CHANGE
    assert not {"latent", "kl_weight", "lr", "seed", "channels", "downsample"} & RESUME_MAY_CHANGE


def test_docs_cli_md_is_generated_from_the_config():
    assert (ROOT / "docs" / "cli.md").read_text() == cli_markdown(), \
        "docs/cli.md is stale: python -m vaegan.programs.docs docs/cli.md"


def test_help_shows_groups_and_one_spelling_per_flag(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/somewhere/bin/vaegan-train"])
    text = train_parser().format_help()
    assert text.startswith("usage: vaegan-train [--config FILE]")
    assert len(text.split("\n\n", 1)[0].splitlines()) <= 2  # a short usage line, not every flag
    for title in GROUPS:
        assert f"\n{title}:\n" in text
    listed = re.findall(r"^ {2}(--[\w-]+)", text, re.M)
    assert not [flag for flag in listed if "_" in flag]
    assert len(listed) == len(set(listed))
    for name in FIELDS:
        assert "--" + name.replace("_", "-") in listed, name
    for history in ("earlier", "README", " won ", "a run ago"):
        assert history not in text, history


def test_print_config_resolves_dependent_defaults_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert train_main(["--latent", "16", "--use_gan", "--out", str(out), "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert (printed["swd_weight"], printed["disc_feature_weight"], printed["gan_samples"]) == (200.0, 1.0, True)
    assert printed["latent"] == 16 and not out.exists()


def test_programs_answer_help_without_importing_torch():
    code = ("import sys; import vaegan.programs.train, vaegan.programs.sample, vaegan.programs.export, "
            "vaegan.programs.eval, vaegan.programs.prior; "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "False"


def test_a_folder_of_images_without_dataset_folder_is_named(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(photos / "a.png")
    code = train_main(["--data-dir", str(photos), "--out", str(tmp_path / "run"), "--wandb", "disabled"])
    err = capsys.readouterr().err
    assert code == 2 and "--dataset folder" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


def test_every_program_names_the_model_with_checkpoint():
    from vaegan.programs.eval import eval_parser
    from vaegan.programs.sample import sample_parser

    for parser in (sample_parser(), eval_parser()):
        assert "--checkpoint" in parser.format_help()
    assert sample_parser().parse_args(["--checkpoint", "m.pt"]).checkpoint == "m.pt"
    with pytest.raises(SystemExit):
        sample_parser().parse_args(["m.pt", "--checkpoint", "m.pt"])  # no positional model


def _anchors(page):
    text = page.read_text()
    ids = set(re.findall(r'<a id="([^"]+)"', text))
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.M):
        ids.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return ids


def test_links_between_the_docs_resolve():
    pages = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in _anchors(linked)):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken


def test_every_bench_script_is_indexed():
    index = (ROOT / "bench" / "README.md").read_text()
    scripts = [p.name for p in (ROOT / "bench").iterdir() if p.suffix in (".py", ".sh")]
    assert scripts and not [name for name in scripts if f"`{name}`" not in index]


def test_the_code_passes_the_linter():
    """ruff with the rules of pyproject.toml (pycodestyle, pyflakes, import order, 120 columns)."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "vaegan", "tests", "bench", "train.py", "eval.py"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize("program", ["eval.py", "vaegan-sample", "vaegan-export", "vaegan-prior"])
def test_every_program_has_its_flags_from_one_options_dataclass(program, capsys):
    """Each field is a flag with its help and default in its group, and its range check gives the
    program's one-line error."""
    from vaegan.options import flag_of, groups_of, option_fields
    from vaegan.programs.docs import program_options

    import_main = {"eval.py": "vaegan.programs.eval", "vaegan-sample": "vaegan.programs.sample",
                   "vaegan-export": "vaegan.programs.export", "vaegan-prior": "vaegan.programs.prior"}[program]
    main = __import__(import_main, fromlist=["main"]).main
    options = {name: cls for name, cls, _ in program_options()}[program]
    parser_of = {"eval.py": "eval_parser", "vaegan-sample": "sample_parser", "vaegan-export": "export_parser",
                 "vaegan-prior": "prior_parser"}[program]
    text = getattr(__import__(import_main, fromlist=[parser_of]), parser_of)().format_help()
    for title, names in groups_of(options).items():
        assert f"\n{title}:\n" in text
        for name in names:
            assert flag_of(options, name) in text, name
    numeric = [n for n, f in option_fields(options).items() if f.metadata["minimum"] is not None]
    assert numeric, program
    name = numeric[0]
    required = [a for n, f in option_fields(options).items() if f.default is REQUIRED_MARK
                for a in (flag_of(options, n), "x")]
    code, err = call(main, [*required, flag_of(options, name), "-1"], capsys)
    assert code == 2 and f"{name} must be >" in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("started_as", ["vaegan-eval", "eval.py"])
def test_the_eval_program_names_itself_as_it_was_started(started_as, monkeypatch, capsys):
    from vaegan.programs.eval import main as eval_main

    monkeypatch.setattr(sys, "argv", [f"/somewhere/bin/{started_as}", "--help"])
    with pytest.raises(SystemExit):
        eval_main(["--help"])
    assert capsys.readouterr().out.startswith(f"usage: {started_as} ")
