"""The one way a program turns what went wrong into what a user reads: a bad input is one line and
exit 2, a training failure one line and exit 1, a signal its own code; warnings are one line too."""
from __future__ import annotations

import sys
import warnings
from typing import Callable

from ..config import ConfigError, TrainingError
from ..signals import Interrupted


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def run_cli(main: Callable[[], int]) -> int:
    """Turn user-facing errors raised deep inside into one line and exit code 2; warnings into one line."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line
            return main()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Interrupted as e:
        print(str(e), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
