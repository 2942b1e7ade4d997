"""The Examples sections of the public API run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["hybridgen.gmm", "hybridgen.vae", "hybridgen.vaegan", "hybridgen.metrics"]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
