"""Fit time of the data layer: TabularTransformer(numeric="mode") on UCI Adult train.

The mode-specific encoding fits a 1-D Gaussian mixture (up to 10 modes) to each of
Adult's 6 integer columns with one vectorised EM, and infers the 9 string columns'
categories. The figure is the best of 3 fits; transform and inverse_transform of the
whole table are timed the same way for context.

    python benchmarks/bench_transformer.py [path/to/adult_train.csv]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from _results import write_section

from hybridgen.transform import TabularTransformer

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / ".." / "shared" / "data" / "adult_train.csv"


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    """Smallest wall-clock time of ``repeats`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT.resolve()
    df = pd.read_csv(path)
    rows = []
    for numeric in ("mode", "standard"):
        transformer = TabularTransformer(numeric=numeric)
        fit = best_of(lambda t=transformer: t.fit(df))
        Z = transformer.transform(df)
        encode = best_of(lambda t=transformer: t.transform(df))
        decode = best_of(lambda t=transformer, z=Z: t.inverse_transform(z))
        rows.append((numeric, fit, encode, decode, Z.shape[1]))
        print(
            f"numeric={numeric!r}: fit {fit:.3f} s, transform {encode:.3f} s, "
            f"inverse_transform {decode:.3f} s, encoded width {Z.shape[1]}"
        )
    body = (
        f"## Data layer: TabularTransformer on Adult train ({len(df):,} rows x "
        f"{df.shape[1]} columns)\n\n"
        "Best of 3 runs each. `mode` fits a 1-D Gaussian mixture (max 10 modes) per "
        "numeric column with one vectorised EM (100 iterations at most). Budget for "
        "`fit` with `mode`: 2 s.\n\n"
        "| numeric | fit (s) | transform (s) | inverse_transform (s) | encoded width |\n"
        "|---|---|---|---|---|\n"
        + "".join(f"| {n} | {f:.3f} | {e:.3f} | {d:.3f} | {w} |\n" for n, f, e, d, w in rows)
    )
    write_section("transformer", body, command="python benchmarks/bench_transformer.py")


if __name__ == "__main__":
    main()
