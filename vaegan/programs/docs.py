"""docs/cli.md, generated from every program's options: `python -m vaegan.programs.docs docs/cli.md`
(a test fails when the file is stale)."""
from __future__ import annotations

import sys
from pathlib import Path

from ..config import GROUPS, RESUME_MAY_CHANGE, Config
from ..options import groups_of, markdown_table


def program_options() -> list[tuple[str, type, str]]:
    """(program, its options dataclass, a line on what it does) of every program but training's."""
    from ..priors.training import PriorConfig
    from .eval import EvalOptions
    from .export import ExportOptions
    from .sample import SampleOptions

    return [("eval.py", EvalOptions, "Test-split metrics of a trained checkpoint (`python eval.py --checkpoint ...`)."),
            ("vaegan-sample", SampleOptions, "Samples, reconstructions, interpolations or traversals as a grid."),
            ("vaegan-export", ExportOptions, "A checkpoint as safetensors for `vaegan.load`, or as a diffusers model."),
            ("vaegan-prior", PriorConfig, "A learned (diffusion) prior on a trained model's latents; `--config` "
                                          "takes a `configs/prior_*.yaml` recipe of its Training and Evaluation "
                                          "keys.")]


def cli_markdown() -> str:
    """docs/cli.md: every program's flags by group, from their option dataclasses (a test fails when
    the file is stale)."""
    lines = ["# Command-line flags", "",
             "Generated from the option dataclasses (`vaegan/config.py` for training, and one per program) by",
             "`python -m vaegan.programs.docs docs/cli.md`; do not edit by hand. Multi-word flags also take",
             "underscores (`--use_gan` = `--use-gan`); on/off flags also take `no-` (`--no-visuals`).", "",
             "# Training flags (`python train.py` / `vaegan-train`)", "",
             "Precedence: defaults < `--config FILE` (YAML, keys spelled as below with `_`) < flags.",
             "`--print-config` prints the resolved config, every default filled in, and exits.", ""]
    for title, names in GROUPS.items():
        lines += [f"## {title}", "", *markdown_table(Config, names), ""]
    may_change = ", ".join(f"`--{n.replace('_', '-')}`" for n in sorted(RESUME_MAY_CHANGE))
    lines += ["## Forms a table does not show", "",
              "- `--latent 2 4 16`: one run per value, one after another (a sweep; leave `--out` out, each run",
              "  gets its own folder, and they share a W&B group).",
              "- `--resume` alone means `--resume yes`; `--no-resume` means `--resume no` (the default).", ""]
    lines += ["## What `--resume` may change", "",
              "A resumed run trains with the checkpoint's settings. Of the flags above only these may differ",
              f"from it: {may_change}. Any other one that is given and differs is refused, with",
              "both values named; one not given keeps the checkpoint's value.", ""]
    for program, options, what in program_options():
        lines += [f"# `{program}`", "", what, ""]
        for title, names in groups_of(options).items():
            lines += [f"## {program}: {title}", "", *markdown_table(options, names), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(cli_markdown())
