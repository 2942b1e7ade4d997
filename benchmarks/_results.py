"""Write one benchmark's figures into its own section of benchmarks/RESULTS.md.

Each script owns a section between ``<!-- name:begin -->`` and ``<!-- name:end -->``
and rewrites only that section, so scripts can run in any order.
"""

from __future__ import annotations

import datetime as _dt
import platform
import re
import sys
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = (
    "# Benchmark results\n\n"
    "Each section is rewritten by the script named in it; figures from one run, "
    "ratios measured side by side.\n"
)


def machine() -> str:
    """A one-line description of where the figures were taken."""
    import os

    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.machine()}, {os.cpu_count()} CPU cores, {gpu}; Python "
        f"{sys.version.split()[0]}, torch {torch.__version__}"
    )


def write_section(name: str, body: str, *, command: str) -> None:
    """Replace (or append) the section ``name`` of RESULTS.md with ``body``."""
    stamp = _dt.date.today().isoformat()
    block = (
        f"<!-- {name}:begin -->\n{body.rstrip()}\n\n"
        f"_Measured {stamp} on {machine()}. Reproduce: `{command}`_\n<!-- {name}:end -->"
    )
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    pattern = re.compile(
        rf"<!-- {re.escape(name)}:begin -->.*?<!-- {re.escape(name)}:end -->", re.S
    )
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else f"{text.rstrip()}\n\n{block}\n"
    )
    RESULTS.write_text(text)
