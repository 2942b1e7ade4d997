"""Fitted state <-> (JSON tree, named arrays), for ``save``/``load`` without pickle.

:func:`encode` walks a value and returns a JSON-able tree in which every numeric
array has been replaced by a reference into a dict of arrays (written with
safetensors); :func:`decode` reverses it. Only plain data and hybridgen's own
registered classes are rebuilt, so loading a file can never run foreign code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .exceptions import ModelFormatError

__all__ = ["decode", "encode", "register"]

_REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: allow instances of ``cls`` in saved state, rebuilt field by field."""
    _REGISTRY[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return cls


def registered(name: str) -> type:
    """The registered class called ``name``; :class:`ModelFormatError` when unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ModelFormatError(
            f"The saved state refers to {name!r}, which is not a hybridgen class this "
            "version can load."
        ) from None


def encode(value: Any, arrays: dict[str, np.ndarray], key: str = "s") -> Any:
    """Return a JSON-able tree for ``value``; numeric arrays are added to ``arrays``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            arrays[key] = np.ascontiguousarray(value)
            return {"__array__": key}
        return {
            "__objarray__": [encode(v, arrays, f"{key}.{i}") for i, v in enumerate(value.tolist())]
        }
    if isinstance(value, np.random.RandomState):
        return {"__random_state__": encode(value.get_state(legacy=True), arrays, key)}
    if isinstance(value, tuple | list):
        items = [encode(v, arrays, f"{key}.{i}") for i, v in enumerate(value)]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        pairs = [
            [encode(k, arrays, f"{key}.k{i}"), encode(v, arrays, f"{key}.{i}")]
            for i, (k, v) in enumerate(value.items())
        ]
        return {"__dict__": pairs}
    name = f"{type(value).__module__}.{type(value).__qualname__}"
    if name in _REGISTRY:
        return {"__object__": name, "state": encode(dict(vars(value)), arrays, key)}
    raise TypeError(f"Cannot save a value of type {name!r} (under {key!r}).")


def _decode_object(tree: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    cls = registered(tree["__object__"])
    obj: Any = object.__new__(cls)
    obj.__dict__.update(decode(tree["state"], arrays))
    return obj


def _decode_random_state(tree: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    rs = np.random.RandomState()
    rs.set_state(decode(tree["__random_state__"], arrays))
    return rs


_DECODERS: dict[str, Callable[[dict[str, Any], dict[str, np.ndarray]], Any]] = {
    "__array__": lambda t, a: a[t["__array__"]],
    "__objarray__": lambda t, a: np.array(decode(t["__objarray__"], a) + [None], dtype=object)[:-1],
    "__tuple__": lambda t, a: tuple(decode(v, a) for v in t["__tuple__"]),
    "__dict__": lambda t, a: {decode(k, a): decode(v, a) for k, v in t["__dict__"]},
    "__object__": _decode_object,
    "__random_state__": _decode_random_state,
}


def decode(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(tree, list):
        return [decode(v, arrays) for v in tree]
    if isinstance(tree, dict):
        for marker, decoder in _DECODERS.items():
            if marker in tree:
                return decoder(tree, arrays)
        raise ModelFormatError(f"Unrecognised entry in saved state: {sorted(tree)}")
    return tree
