"""Every program's front door, one module each: its options (a dataclass, or `Config` for training)
and its `main`, nothing else — `train`, `eval`, `sample`, `export`, `prior`. Beside them what they
share: the one-line error handling (`common.run_cli`) and the generator of docs/cli.md from every
program's options (`docs`). The work they start lives in the library, which never imports this package."""
