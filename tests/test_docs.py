"""The docs cannot drift from the code: every command they write is parsed by its program's own
parser (nothing runs), and every link from the README into docs/results.md names a section there."""
import re
import shlex
from pathlib import Path

import pytest

from tests.helpers import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
PROGRAMS = ("python train.py", "python eval.py", "vaegan-train", "vaegan-eval", "vaegan-sample", "vaegan-export",
            "vaegan-prior")
SHELL_ENDS = {"&", "&&", "|", "||", ";", ">", ">>", "2>&1", ")"}


def code_lines(path: Path) -> list[tuple[str, bool]]:
    """(line, whether it is a whole command) of the code a file shows a reader: fenced blocks (whole)
    and `inline spans` (a mention, which may leave out the required flags) of a markdown file, the
    comments of a YAML recipe (whole); a line ending in a backslash joined with the next."""
    text = path.read_text()
    if path.suffix == ".yaml":  # the comments, read as markdown prose
        text = "\n".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))
    lines, fenced = [], False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
        elif fenced or line.strip().startswith(PROGRAMS):
            lines.append((re.sub(r"\s#.*$", "", line), True))  # less a shell comment
        else:
            lines += [(span, False) for span in re.findall(r"`([^`]+)`", line)]
    joined, pending = [], ""
    for line, whole in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
        else:
            joined.append((pending + line, whole))
            pending = ""
    return joined


def commands(path: Path) -> list[tuple[str, list[str]]]:
    """(program, its arguments) of every command in `path`, a mention's completed with placeholders
    for the flags it leaves out; usage sketches (`...`, `[FLAG]`, `…`) are not commands."""
    found = []
    for line, whole in code_lines(path):
        for program in PROGRAMS:
            for match in re.finditer(re.escape(program) + r"(?=\s|$)", line):
                rest = line[match.end():]
                if re.search(r"\.\.\.|…|\[[A-Z-]", rest.split("#")[0]):
                    continue
                try:
                    words = shlex.split(rest, comments=True)
                except ValueError:  # an unbalanced quote: part of a prose span
                    continue
                args = []
                for word in words:
                    if word in SHELL_ENDS or word.startswith((">", "2>")):
                        break
                    args.append(word)
                args = without_shell_variables(args)
                program = program.split()[-1]
                found.append((program, args if whole else args + placeholders(program, args)))
    return found


def without_shell_variables(args: list[str]) -> list[str]:
    """`args` less each flag whose value is a shell variable (`--latent $L` in a loop): no value to check.
    A variable standing for a path (`--checkpoint $M`) stays: any string is a path."""
    kept, skip = [], False
    for i, word in enumerate(args):
        if skip:
            skip = False
        elif word.startswith("--") and i + 1 < len(args) and args[i + 1].startswith("$") and not any(
                name in word for name in ("checkpoint", "out", "dir", "from", "config")):
            skip = True
        else:
            kept.append(word)
    return kept


def placeholders(program: str, args: list[str]) -> list[str]:
    """The required flags a mention leaves out, with placeholder values."""
    required = {"vaegan-export": ["--checkpoint", "--out"], "train.py": [], "vaegan-train": []}.get(
        program, ["--checkpoint"])
    return [word for flag in required if flag not in args for word in (flag, "PLACEHOLDER")]


OPTIONS = {  # program -> (module, its options dataclass, its parser)
    "eval.py": ("vaegan.programs.eval", "EvalOptions", "eval_parser"),
    "vaegan-eval": ("vaegan.programs.eval", "EvalOptions", "eval_parser"),
    "vaegan-sample": ("vaegan.programs.sample", "SampleOptions", "sample_parser"),
    "vaegan-export": ("vaegan.programs.export", "ExportOptions", "export_parser"),
}


def parse(program: str, args: list[str]) -> None:
    """Parse `args` as `program` would, reading the recipe files they name; SystemExit / ConfigError on error."""
    import importlib

    from vaegan.config import check_value, load_yaml
    from vaegan.options import parse_options
    from vaegan.programs.train import parse_train_request, train_parser

    if "--config" in args and re.fullmatch(r"[A-Z_]+|.*\*.*", args[args.index("--config") + 1]):
        at = args.index("--config")  # `--config FILE` or a glob: a placeholder, not a recipe to read
        args = args[:at] + args[at + 2:]
    if program in ("train.py", "vaegan-train"):
        if "--init-from" not in args:
            parse_train_request(args)
            return
        given = vars(train_parser().parse_args(args))  # the source VAE is not at hand: flags and recipe alone
        for key, value in (load_yaml(given["config"]) if given.get("config") else {}).items():
            check_value(key, value)
    elif program == "vaegan-prior":
        from vaegan.priors.training import PriorConfig
        from vaegan.programs.prior import prior_parser, read_recipe

        given = vars(prior_parser().parse_args(args))
        parse_options(PriorConfig, prior_parser(), args, read_recipe(given["config"]) if given.get("config") else {})
    else:
        module, options, parser = OPTIONS[program]
        module = importlib.import_module(module)
        parse_options(getattr(module, options), getattr(module, parser)(), args)


ALL = [(path, program, args) for path in DOCS + sorted((ROOT / "configs").glob("*.yaml"))
       for program, args in commands(path)]


def test_the_docs_hold_commands_of_every_program():
    assert {program for _, program, _ in ALL} >= {"train.py", "eval.py", "vaegan-sample", "vaegan-export",
                                                  "vaegan-prior"}
    assert len(ALL) > 50, len(ALL)


@pytest.mark.parametrize("path, program, args", ALL,
                         ids=[f"{p.relative_to(ROOT)}:{prog}:{' '.join(a)[:60]}" for p, prog, a in ALL])
def test_every_documented_command_parses(path, program, args, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # recipe paths are written from the repository root
    from vaegan.config import ConfigError

    try:
        parse(program, args)
    except (SystemExit, ConfigError) as e:
        pytest.fail(f"{path.relative_to(ROOT)}: `{program} {' '.join(args)}` does not parse: "
                    f"{capsys.readouterr().err.strip() or e}")


def test_every_results_link_of_the_readme_names_a_section_of_results_md():
    results = (ROOT / "docs" / "results.md").read_text()
    anchors = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-")
               for h in re.findall(r"^#+ (.+)$", results, re.M)}
    anchors |= set(re.findall(r'<a id="([^"]+)"></a>', results))
    links = re.findall(r"\(docs/results\.md#([^)]+)\)", (ROOT / "README.md").read_text())
    assert links, "the README links no results"
    assert not [link for link in links if link not in anchors], [link for link in links if link not in anchors]
