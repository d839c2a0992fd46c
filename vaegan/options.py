"""The config machinery every program shares. A dataclass whose fields are declared with `opt()` gives
its program the flags (grouped in --help), the type and range check of every value (from a flag or a
YAML recipe) and its section of docs/cli.md. Training's `Config` (config.py), eval.py's, vaegan-sample's,
vaegan-export's and vaegan-prior's options are such dataclasses.

Light on purpose (no torch): every `--help` imports it.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import typing
from dataclasses import field
from typing import Any, Optional, Sequence


class ConfigError(ValueError):
    """Bad user input: reported as one line and exit code 2, never as a traceback."""


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; a user of a script wants the one line that matters."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


REQUIRED = dataclasses.MISSING  # opt(REQUIRED, ...): a flag the program cannot run without


def opt(default: Any, help: str, choices: Optional[tuple] = None, minimum: Optional[float] = None,
        exclusive: bool = False, below: Optional[float] = None, group: Optional[str] = None, resumable: bool = False,
        flag: Optional[str] = None, metavar: Any = None, nargs: Any = None):
    """A field with its help text, allowed choices, lower bound (`exclusive`: strictly above), strict
    upper bound (`below`), its --help group, whether a resumed run may set it anew (`resumable`: how
    long a run goes on, how it is evaluated, logged and stored, where it runs and where its data lives;
    every other key shapes the model or the objective, so a resumed run keeps the checkpoint's) and,
    where the flag is not --<name-with-dashes>, its `flag`, `metavar` and `nargs`."""
    meta = {"help": help, "choices": choices, "minimum": minimum, "exclusive": exclusive, "below": below,
            "group": group, "resumable": resumable, "flag": flag, "metavar": metavar, "nargs": nargs}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@functools.cache
def option_fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def base_type(cls: type, name: str) -> type:
    """A field's type without Optional: str, int, float, bool or list."""
    hint = _hints(cls)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    kind = args[0] if args else hint
    return typing.get_origin(kind) or kind


def item_type(cls: type, name: str) -> type:
    """The element type of a list field (`list[str]`; a bare `list` holds ints)."""
    hint = _hints(cls)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return (typing.get_args(args[0] if args else hint) or (int,))[0]


def is_optional(cls: type, name: str) -> bool:
    return type(None) in typing.get_args(_hints(cls)[name])


def check_field(cls: type, name: str, value: Any) -> Any:
    """Type-check and range-check one value of a known field; returns it (ints are accepted for floats)."""
    meta, kind = option_fields(cls)[name].metadata, base_type(cls, name)
    if value is None:
        if not is_optional(cls, name):
            raise ConfigError(f"config key '{name}' must not be empty")
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value}")
    if kind is list:
        item = item_type(cls, name)
        if not isinstance(value, list) or not value or not all(_is_item(v, item) for v in value):
            what = "positive integers" if item is int else "strings"
            raise ConfigError(f"config key '{name}' must be a list of {what}, got {value!r}")
    elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"config key '{name}' must be {kind.__name__}, got {value!r}")
    if meta["choices"] and value not in meta["choices"]:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, meta['choices']))}, got '{value}'")
    low = meta["minimum"]
    if low is not None and (value <= low if meta["exclusive"] else value < low):
        raise ConfigError(f"{name} must be {'>' if meta['exclusive'] else '>='} {low}, got {value}")
    if meta["below"] is not None and value >= meta["below"]:
        raise ConfigError(f"{name} must be < {meta['below']}, got {value}")
    return value


def _is_item(value: Any, item: type) -> bool:
    if item is str:
        return isinstance(value, str)
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def default_of(cls: type, name: str) -> Any:
    f = option_fields(cls)[name]
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def shown_default(cls: type, name: str) -> Any:
    """A field's default as --help and docs/cli.md print it (on / off for switches; None when unset)."""
    default = default_of(cls, name)
    if default is dataclasses.MISSING:
        return None
    return ("on" if default else "off") if isinstance(default, bool) else default


def flag_help(cls: type, name: str) -> str:
    default = shown_default(cls, name)
    return option_fields(cls)[name].metadata["help"] + ("" if default is None else f" (default: {default})")


def flag_of(cls: type, name: str) -> str:
    return option_fields(cls)[name].metadata["flag"] or "--" + name.replace("_", "-")


def add_flag(group: argparse._ArgumentGroup, cls: type, name: str, **override: Any) -> None:
    """The field's flag, its value checked later by `check_field`; absent from the parsed namespace
    unless given (so a program knows what the user set). `override`: argparse keywords to replace."""
    kind, meta = base_type(cls, name), option_fields(cls)[name].metadata
    kwargs: dict[str, Any] = dict(default=argparse.SUPPRESS, help=flag_help(cls, name), dest=name)
    if default_of(cls, name) is dataclasses.MISSING:
        kwargs["required"] = True
    if kind is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif kind is list:
        kwargs.update(type=item_type(cls, name), nargs=meta["nargs"] or "+", metavar=meta["metavar"] or "C")
    else:
        kwargs.update(type=kind, choices=meta["choices"],
                      metavar=meta["metavar"] or (None if meta["choices"] else name.upper()))
    kwargs.update(override)
    kwargs["help"] = kwargs["help"].replace("%", "%%")  # argparse formats help texts with %
    flag = flag_of(cls, name)
    group.add_argument(flag, **kwargs)
    if "_" in name and not meta["flag"]:  # --use_gan works as well as --use-gan; --help shows one spelling
        group.add_argument("--" + name, **{**kwargs, "help": argparse.SUPPRESS, "required": False})


def groups_of(cls: type) -> dict[str, list[str]]:
    """The fields by --help group, groups in the order their first field is declared."""
    groups: dict[str, list[str]] = {}
    for name, f in option_fields(cls).items():
        groups.setdefault(f.metadata["group"] or "Options", []).append(name)
    return groups


def options_parser(cls: type, prog: str, description: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A program's parser: one --help group per group of `cls`, one flag per field."""
    parser = OneLineParser(prog=prog, description=description, **kwargs)
    for title, names in groups_of(cls).items():
        group = parser.add_argument_group(title)
        for name in names:
            add_flag(group, cls, name)
    return parser


def build_options(cls: type, values: dict) -> Any:
    """`cls` from checked values (the rest its defaults), then its own cross-field `validate()`."""
    options = cls(**{k: check_field(cls, k, v) for k, v in values.items()})
    if hasattr(options, "validate"):
        options.validate()
    return options


def parse_options(cls: type, parser: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None,
                  recipe: Optional[dict] = None) -> tuple[Any, frozenset]:
    """(the options, the names the user set by flag or `recipe`); a bad value ends in the parser's one-line error."""
    given = vars(parser.parse_args(argv))
    try:
        return build_options(cls, {**(recipe or {}), **given}), frozenset(given) | frozenset(recipe or {})
    except ConfigError as e:
        parser.error(str(e))


def markdown_table(cls: type, names: Sequence[str]) -> list[str]:
    """docs/cli.md's table of these fields: flag (with its choices), default, help."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| flag | default | what it does |", "|---|---|---|"]
    for name in names:
        meta, default = option_fields(cls)[name].metadata, shown_default(cls, name)
        if default_of(cls, name) is dataclasses.MISSING:
            shown = "required"
        elif default is None:
            shown = "see text" if "default:" in meta["help"] else "unset"
        else:
            shown = f"`{default}`"
        value = " {" + ",".join(map(str, meta["choices"])) + "}" if meta["choices"] else ""
        lines.append(f"| `{flag_of(cls, name)}{value}` | {shown} | {cell(meta['help'])} |")
    return lines
