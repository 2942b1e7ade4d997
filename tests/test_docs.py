"""The documentation is true: the API reference is current, the guide's code runs.

- ``docs/api.md`` is what ``docs/build_api.py`` generates from today's docstrings;
- every ```python block of ``docs/guide.md`` runs, in order, in one namespace, and every
  ``hybridgen ...`` line of its ```bash blocks runs through ``hybridgen.cli.main``
  (``hybridgen demo``, which takes minutes, is checked up to the start of its work);
- every name of ``hybridgen.__all__`` has its entry in the API reference, and every
  metric of ``hybridgen.compare.METRICS`` is explained in the guide.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
import shlex
from pathlib import Path
from types import ModuleType

import pytest
import torch
from threadpoolctl import threadpool_limits

import hybridgen
import hybridgen.demo
from hybridgen import cli
from hybridgen.compare import METRICS

DOCS = Path(__file__).resolve().parents[1] / "docs"
GUIDE = DOCS / "guide.md"
API = DOCS / "api.md"
REGENERATE = ".venv/bin/python docs/build_api.py"


def _build_api() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_api", DOCS / "build_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", GUIDE.read_text(), flags=re.S | re.M)


def test_api_reference_is_current():
    expected = _build_api().render()
    current = API.read_text(encoding="utf-8") if API.exists() else ""
    if current != expected:
        diff = difflib.unified_diff(
            current.splitlines(), expected.splitlines(), "docs/api.md", "generated", lineterm=""
        )
        shown = "\n".join(list(diff)[:40])
        pytest.fail(f"docs/api.md is out of date: run `{REGENERATE}` and commit it\n{shown}")


def test_api_reference_has_every_public_name():
    text = API.read_text(encoding="utf-8")
    missing = [name for name in hybridgen.__all__ if f"### `hybridgen.{name}`" not in text]
    assert not missing, f"not in docs/api.md: {missing}; run `{REGENERATE}`"


def test_guide_explains_every_metric():
    text = GUIDE.read_text()
    missing = [metric for metric in METRICS if f"`{metric}`" not in text]
    assert not missing, f"docs/guide.md does not explain the metrics {missing}"


class _DemoStarted(Exception):
    """Raised in place of the demo's first comparison: its arguments were accepted."""


def _run_command(line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = shlex.split(line)
    assert argv[0] == "hybridgen", f"not a hybridgen command: {line!r}"
    if argv[1] == "demo":  # minutes of work: check that it parses and starts

        def started(*args: object, **kwargs: object) -> None:
            raise _DemoStarted

        monkeypatch.setattr(hybridgen.demo, "run_comparison", started)
        with pytest.raises(_DemoStarted):
            cli.main(argv[1:])
        return
    assert cli.main(argv[1:]) == 0, f"`{line}` failed"


@pytest.fixture
def one_thread():
    """torch and the BLAS/OpenMP pools on one thread for the duration: the guide's fits
    are tiny, and on a shared two-core machine extra threads only contend (a
    GaussianMixture fit: 0.02 s on one thread, over 1 s on two under load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)


def test_guide_code_runs(tmp_path, monkeypatch, one_thread):
    python, bash = _blocks("python"), _blocks("bash")
    assert python and bash, "docs/guide.md has no ```python or ```bash block"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HYBRIDGEN_DATA", str(tmp_path / "data-home"))  # an empty cache
    namespace: dict[str, object] = {"__name__": "guide"}
    # the blocks run in the order of the guide; a ```bash block runs where it stands
    text = GUIDE.read_text()
    for match in re.finditer(r"^```(python|bash)\n(.*?)^```", text, flags=re.S | re.M):
        language, code = match.groups()
        line_no = text[: match.start()].count("\n") + 2
        if language == "python":
            source = "\n" * (line_no - 1) + code  # tracebacks point at the guide's lines
            exec(compile(source, str(GUIDE), "exec"), namespace)  # noqa: S102
            continue
        for line in code.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                _run_command(line.split(" #")[0].strip(), monkeypatch)
