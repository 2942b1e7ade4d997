"""Declared parameter constraints and the one function that words parameter errors.

Each estimator declares ``_parameter_constraints``, a dict mapping a constructor
argument to a list of accepted constraints; :func:`validate_params` checks them
at the top of ``fit`` and words every failure the way scikit-learn does::

    The 'latent_dim' parameter of VAE must be an int in the range [1, inf). Got 0 instead.
"""

from __future__ import annotations

import math
from collections.abc import Container, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

from .exceptions import InvalidParameterError

__all__ = ["Interval", "Options", "validate_params"]


@dataclass(frozen=True)
class Interval:
    """A numeric range; ``type`` is ``Integral`` or ``Real``, ``closed`` is one of
    ``"left"``, ``"right"``, ``"both"``, ``"neither"``."""

    type: type
    left: float | None
    right: float | None
    closed: str = "both"

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, bool | np.bool_):
            return False
        if self.type is Integral and not isinstance(value, Integral):
            return False
        if self.type is Real and not isinstance(value, Real):
            return False
        if isinstance(value, Real) and math.isnan(float(value)):
            return False
        left_ok = self.left is None or (
            value >= self.left if self.closed in ("left", "both") else value > self.left
        )
        right_ok = self.right is None or (
            value <= self.right if self.closed in ("right", "both") else value < self.right
        )
        return bool(left_ok and right_ok)

    def __str__(self) -> str:
        kind = "an int" if self.type is Integral else "a float"
        lb = "[" if self.closed in ("left", "both") and self.left is not None else "("
        rb = "]" if self.closed in ("right", "both") and self.right is not None else ")"
        left = "-inf" if self.left is None else f"{self.left:g}"
        right = "inf" if self.right is None else f"{self.right:g}"
        return f"{kind} in the range {lb}{left}, {right}{rb}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (usually strings)."""

    options: Container[Any]

    def is_satisfied_by(self, value: Any) -> bool:
        try:
            return value in self.options
        except TypeError:
            return False

    def __str__(self) -> str:
        return f"a str among {sorted(self.options, key=str)}"  # type: ignore[call-overload]


def _is_satisfied(constraint: Any, value: Any) -> bool:
    if constraint is None:
        return value is None
    if constraint == "boolean":
        return isinstance(value, bool | np.bool_)
    if constraint == "random_state":
        return value is None or isinstance(value, Integral | np.random.RandomState)
    if constraint == "array-like":
        return hasattr(value, "__len__") or hasattr(value, "__array__")
    if constraint == "dict":
        return isinstance(value, Mapping)
    if isinstance(constraint, type):
        return isinstance(value, constraint)
    return bool(constraint.is_satisfied_by(value))


def _describe(constraint: Any) -> str:
    names = {
        None: "None",
        "boolean": "an instance of 'bool'",
        "random_state": "an int, a numpy RandomState instance or None",
        "array-like": "an array-like",
        "dict": "a dict",
    }
    if isinstance(constraint, str) or constraint is None:
        return names[constraint]
    if isinstance(constraint, type):
        return f"an instance of '{constraint.__name__}'"
    return str(constraint)


def validate_params(estimator: Any, params: Mapping[str, Any] | None = None) -> None:
    """Check ``params`` (default: ``estimator.get_params(deep=False)``) against the
    estimator's ``_parameter_constraints``.

    Raises
    ------
    InvalidParameterError
        Worded "The 'p' parameter of Cls must be <constraint>. Got <value> instead."
    """
    constraints: Mapping[str, list[Any]] = getattr(estimator, "_parameter_constraints", {})
    params = estimator.get_params(deep=False) if params is None else params
    cls = type(estimator).__name__
    for name, value in params.items():
        if name not in constraints:
            continue
        accepted = constraints[name]
        if any(_is_satisfied(c, value) for c in accepted):
            continue
        described = [_describe(c) for c in accepted]
        text = (
            described[0]
            if len(described) == 1
            else (f"{', '.join(described[:-1])} or {described[-1]}")
        )
        raise InvalidParameterError(
            f"The {name!r} parameter of {cls} must be {text}. Got {value!r} instead."
        )
