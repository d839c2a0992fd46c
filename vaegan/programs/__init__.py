"""What every program's front door shares: the one-line error handling (`common.run_cli`) and the
generator of docs/cli.md from every program's options (`docs`)."""
