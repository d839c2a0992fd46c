"""Run the README's first run and write what it printed, and how long it took on which CPU, back
into the README, so that block is always today's code's output.

    python bench/readme_first_run.py            # runs it in a scratch folder, rewrites README.md

The command is the one in the README's fenced block under "## A first run"; the printed block and
the sentence before it ("It printed, in ...") are replaced. Run it with nothing else training: the
time is part of what it writes.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SECTION = re.compile(r"(## A first run[^\n]*\n.*?```bash\n)(?P<command>.*?)(\n```\n)"
                     r"(?P<said>\nIt printed, in .*?:\n\n```\n)(?P<printed>.*?)(\n```\n)", re.S)
KEPT = ("data:", "training ", "epoch ")  # the lines that say what ran (not progress bars or warnings)


def cpu_kind() -> str:
    """The CPU as the results name it: model and the instruction set that sets its speed."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model, flags_line = re.search(r"model name\s*:\s*(.*)", info), re.search(r"flags\s*:\s*(.*)", info)
    flags = set(flags_line.group(1).split()) if flags_line else set()
    isa = "AMX" if "amx_bf16" in flags else "AVX512-BF16" if "avx512_bf16" in flags else "AVX2 only"
    name = re.sub(r"\((R|TM)\)", "", model.group(1)).strip() if model else "CPU"
    return f"{os.cpu_count()}-core {name} ({isa})"


def run(command: str) -> tuple[list[str], float]:
    words = shlex.split(command.replace("\\\n", " "))
    with tempfile.TemporaryDirectory() as scratch:  # the run's folder (as the README names it) goes there
        words[words.index("train.py")] = str(ROOT / "train.py")
        start = time.perf_counter()
        done = subprocess.run([sys.executable if w == "python" else w for w in words], cwd=scratch,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the first run failed:\n{done.stderr[-2000:]}")
    return [line for line in done.stdout.splitlines() if line.startswith(KEPT)], seconds


def main() -> None:
    text = README.read_text()
    found = SECTION.search(text)
    if found is None:
        raise SystemExit("README.md has no '## A first run' section with a command and an 'It printed' block")
    printed, seconds = run(found["command"])
    sentence = (f"It printed, in {seconds:.0f} s on a {cpu_kind()}, {time.strftime('%Y-%m-%d')} (the first run on a "
                f"machine also trains the dataset's [domain classifier](docs/metrics.md#domain-classifier) once "
                f"and caches it):")
    said = "\n" + textwrap.fill(sentence, 102, break_on_hyphens=False) + "\n\n```\n"
    text = text[:found.start("said")] + said + "\n".join(printed) + text[found.end("printed"):]
    README.write_text(text)
    print(said.strip())
    print("\n".join(printed))


if __name__ == "__main__":
    main()
