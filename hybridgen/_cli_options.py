"""Command-line options generated from an estimator's parameters.

One option per ``get_params()`` key, in the constructor's order: its type and
metavar come from the default and the ``_parameter_constraints`` table, its help
from the numpydoc ``Parameters`` section. The options only convert text to values;
the estimator checks them in ``fit``. ``hybridgen compare --param`` reads values
with the same parsers.
"""

from __future__ import annotations

import argparse
import inspect
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, cast

from ._validation import Interval, Options

#: estimator parameters whose option is not ``--<name>``
_RENAMED = {"random_state": "--seed"}
#: estimator parameters set by a command's own option rather than a generated one
_SHARED = {"verbose": "--verbose"}
_PARAM_DEST = "param_"


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int, got {text!r}") from None


def _parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a float, got {text!r}") from None


def _parse_bool(text: str) -> bool:
    value = _boolean(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value


def _parse_names(text: str) -> list[Any]:
    """Comma-separated column names; integer positions when every item is an integer."""
    names = [item.strip() for item in text.split(",") if item.strip()]
    if names and all(item.lstrip("-").isdigit() for item in names):
        return [int(item) for item in names]
    return names


def _boolean(text: str) -> bool | None:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    return None


def _parse_ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated ints such as '64,64', got {text!r}"
        ) from None


def _parse_numbers(text: str) -> list[Any]:
    """``"0.3,0.7"`` -> [0.3, 0.7]; ``"0,1;2,3"`` -> [[0, 1], [2, 3]] (rows split by ';')."""
    try:
        rows = [[float(item) for item in row.split(",")] for row in text.split(";")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers (';' between rows), got {text!r}"
        ) from None
    return rows[0] if len(rows) == 1 else rows


def _parse_literal(text: str) -> Any:
    """An int, a float, ``none`` (None), or else the string itself."""
    if text.strip().lower() == "none":
        return None
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    return text


def _str_or_bool(text: str) -> str | bool:
    value = _boolean(text)
    return text if value is None else value


def _or_none(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_or_none(text: str) -> Any:
        return None if text.strip().lower() == "none" else parse(text)

    return parse_or_none


def _value_parser(default: Any, constraints: Sequence[Any]) -> tuple[Callable[[str], Any], str]:
    """How to read one parameter's value from text, and its metavar.

    The type is the default's; ``constraints`` (the estimator's declared table entry)
    refine it: an int parameter declared as a float range reads floats, a string
    parameter that also accepts booleans reads true/false, None allows "none".
    """
    intervals = [c.type for c in constraints if isinstance(c, Interval)]
    parse: Callable[[str], Any]
    if isinstance(default, bool):
        parse, metavar = _parse_bool, "{true,false}"
    elif isinstance(default, Integral):
        as_float = Real in intervals and Integral not in intervals
        parse, metavar = (_parse_float, "FLOAT") if as_float else (_parse_int, "INT")
    elif isinstance(default, Real):
        parse, metavar = _parse_float, "FLOAT"
    elif isinstance(default, str):
        declared = [cast(Iterable[Any], c.options) for c in constraints if isinstance(c, Options)]
        choices = sorted({str(option) for options in declared for option in options})
        boolean = "boolean" in constraints
        parse = _str_or_bool if boolean else str
        choices += ["true", "false"] if boolean and choices else []
        metavar = "{" + ",".join(choices) + "}" if choices else "STR"
    elif isinstance(default, tuple | list):
        parse, metavar = _parse_ints, "INT,..."
    elif default is None and list in constraints:  # column names, or positions of an array
        parse, metavar = _parse_names, "COLUMN,..."
    elif default is None and "array-like" in constraints:
        parse, metavar = _parse_numbers, "NUMBERS"
    elif default is None:  # any literal; the metavar from the constraint naming a number
        numbers: list[type] = [*intervals, *(Integral for c in constraints if c == "random_state")]
        metavar = "VALUE" if not numbers else "INT" if numbers[0] is Integral else "FLOAT"
        return _parse_literal, metavar
    else:
        parse, metavar = str, "STR"
    if None in constraints:
        parse = _or_none(parse)
    return parse, metavar


def _format_value(value: Any) -> str:
    """A value as it is typed on the command line."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "none"
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value)


def _parameter_docs(cls: type) -> dict[str, tuple[str, str]]:
    """(type, first sentence of the description) of each parameter documented in the
    numpydoc docstrings of ``cls`` and its bases (the nearest class wins)."""
    docs: dict[str, tuple[str, str]] = {}
    for klass in reversed(cls.__mro__):
        doc = inspect.getdoc(klass) if "__doc__" in vars(klass) else None
        found = re.search(r"^Parameters\n-+\n(.*?)(?=^\S[^\n]*\n-+\n|\Z)", doc or "", re.M | re.S)
        for block in re.split(r"\n(?=\S)", found.group(1).strip() if found else ""):
            head, _, body = block.partition("\n")
            if " : " not in head:  # "a, b, c" sharing one note, often "As for <base>"
                continue
            names, _, kind = head.partition(" : ")
            text = re.sub(r":\w+:`~?(?:\w+\.)*([^`]+)`", r"\1", body).replace("``", "")
            sentence = re.split(r"(?<=\.)\s", " ".join(text.split()), maxsplit=1)[0]
            for name in names.split(","):
                docs[name.strip()] = (re.sub(r",?\s*default=.*$", "", kind), sentence.rstrip("."))
    return docs


@dataclass(frozen=True)
class _ParamOption:
    """The command-line form of one estimator parameter."""

    name: str
    flag: str
    default: Any
    parse: Callable[[str], Any]
    metavar: str
    help: str


def _parameter_options(cls: type) -> list[_ParamOption]:
    """One option per ``cls().get_params()`` key, in the constructor's order."""
    constraints: dict[str, list[Any]] = getattr(cls, "_parameter_constraints", {})
    docs = _parameter_docs(cls)
    order = list(inspect.signature(cls).parameters)
    params = cls().get_params(deep=False)
    options = []
    for name in sorted(params, key=lambda n: order.index(n) if n in order else len(order)):
        default = params[name]
        parse, metavar = _value_parser(default, constraints.get(name, []))
        flag = _RENAMED.get(name) or _SHARED.get(name) or "--" + name.replace("_", "-")
        kind, described = docs.get(name, ("", ""))
        if not described and metavar in ("VALUE", "NUMBERS"):  # the type says what is accepted
            described = kind
        text = f"{described} (default: {_format_value(default)})".strip()
        options.append(_ParamOption(name, flag, default, parse, metavar, text.replace("%", "%%")))
    return options


def _add_parameter_options(parser: argparse.ArgumentParser, cls: type) -> None:
    group = parser.add_argument_group(
        f"{cls.__name__} options",
        f"Defaults are those of {cls.__name__}(); {cls.__name__}.fit checks the values.",
    )
    for option in _parameter_options(cls):
        if option.name in _SHARED:
            continue
        common: dict[str, Any] = {
            "dest": _PARAM_DEST + option.name,
            "default": argparse.SUPPRESS,
            "help": option.help,
        }
        if isinstance(option.default, bool):
            group.add_argument(option.flag, action=argparse.BooleanOptionalAction, **common)
        else:
            group.add_argument(option.flag, type=option.parse, metavar=option.metavar, **common)


def _given_params(namespace: argparse.Namespace) -> dict[str, Any]:
    return {
        key[len(_PARAM_DEST) :]: value
        for key, value in vars(namespace).items()
        if key.startswith(_PARAM_DEST)
    }


def _with_verbose(cls: type, params: dict[str, Any], verbosity: int) -> dict[str, Any]:
    if verbosity and "verbose" in cls().get_params(deep=False) and "verbose" not in params:
        return {**params, "verbose": True}
    return params
