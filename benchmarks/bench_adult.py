"""Adult: hybridgen's models against the SDV project's TVAE and CTGAN, in one run.

The protocol of ANCHORS.md: fit on ``adult_train.csv`` (32,561 rows), draw as many
synthetic rows, and measure them with :mod:`hybridgen.metrics` against the real
``adult_test.csv`` (16,281 rows): TSTR utility with HistGradientBoosting and
LogisticRegression (F1 of ``>50K`` at threshold 0.5, ROC AUC), SDMetrics quality
(column shapes, column pair trends, overall; synthetic against the train split),
the DCR ratio, and the held-out mean log-likelihood per row (hybridgen models only).
The "real data (TRTR)" row trains the classifiers on the real train split: the
ceiling. Seed 0 throughout; fit and sample times are wall clock, from this run.

    python benchmarks/bench_adult.py                                  # all available, 300 epochs
    python benchmarks/bench_adult.py --models gmm,vae --epochs 50
    python benchmarks/bench_adult.py --models gmm --rows 3000 --epochs 1   # quick: prints only

TVAE and CTGAN need the ``ctgan`` package (the ``bench`` extra), which is kept out of
the development environment: install it in a separate one (torch first, pinned, so
no CUDA packages are pulled), e.g.::

    python3 -m venv /tmp/benchenv && /tmp/benchenv/bin/pip install torch==2.13.0
    /tmp/benchenv/bin/pip install ctgan==0.12.1 -e .
    /tmp/benchenv/bin/python benchmarks/bench_adult.py

RESULTS.md is rewritten only by a run on the full train split (no ``--rows``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from _results import machine, write_section

import hybridgen
from hybridgen.base import resolve_device
from hybridgen.datasets import load_adult
from hybridgen.exceptions import NumericalError
from hybridgen.metrics import dcr_ratio, is_numeric, ml_utility, quality_score

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
TARGET, POSITIVE, SEED = "income", ">50K", 0
COLUMNS = {  # key -> (heading, format)
    "epochs": ("epochs", "{}"),
    "fit": ("fit s", "{:.1f}"),
    "sample": ("sample s", "{:.2f}"),
    "hgb_f1": ("HGB F1", "{:.3f}"),
    "hgb_auc": ("HGB AUC", "{:.3f}"),
    "logreg_f1": ("LR F1", "{:.3f}"),
    "logreg_auc": ("LR AUC", "{:.3f}"),
    "column_shapes": ("shapes", "{:.3f}"),
    "column_pair_trends": ("pairs", "{:.3f}"),
    "overall": ("overall", "{:.3f}"),
    "dcr": ("DCR ratio", "{:.2f}"),
    "loglik": ("held-out log-lik", "{:.2f}"),
}


@dataclass
class Candidate:
    """A model to benchmark: its epochs as the table shows them, where it runs, how to
    build it."""

    epochs: str
    device: str
    make: Callable[[], Any]


class SdvSynthesizer:
    """``fit(frame)`` / ``sample(n)`` around the ``ctgan`` package's TVAE or CTGAN; the
    non-numeric columns are its ``discrete_columns``; it has no likelihood."""

    def __init__(self, cls: type, epochs: int, enable_gpu: bool) -> None:
        self.model = cls(epochs=epochs, enable_gpu=enable_gpu)
        self.epochs, self.enable_gpu = epochs, enable_gpu
        if hasattr(self.model, "set_random_state"):
            self.model.set_random_state(SEED)

    def __repr__(self) -> str:
        import ctgan

        return (
            f"ctgan {ctgan.__version__} {type(self.model).__name__}(epochs={self.epochs}, "
            f"enable_gpu={self.enable_gpu})"
        )

    def fit(self, frame: pd.DataFrame) -> SdvSynthesizer:
        discrete = [c for c in frame.columns if not is_numeric(frame[c])]
        self.model.fit(frame, discrete_columns=discrete)
        return self

    def sample(self, n_samples: int) -> pd.DataFrame:
        return self.model.sample(n_samples)


def candidates(args: argparse.Namespace) -> dict[str, Candidate]:
    """Every model this environment can run, by name."""
    device, epochs = str(resolve_device(args.device or "auto")), args.epochs
    gmm_device = str(resolve_device(args.device or "cpu"))
    found = {
        "gmm": Candidate(
            "-",
            gmm_device,
            lambda: hybridgen.GaussianMixture(
                n_components=20, max_iter=200, random_state=SEED, device=gmm_device
            ),
        )
    }
    if hasattr(hybridgen, "VAE"):
        found["vae"] = Candidate(
            str(epochs),
            device,
            lambda: hybridgen.VAE(epochs=epochs, batch_size=500, random_state=SEED, device=device),
        )
        # TVAE-equivalent weighting: TVAE multiplies its reconstruction term by 2
        # (loss_factor=2), which is a KL weight of 0.5 relative to it
        found["vae-beta0.5"] = Candidate(
            str(epochs),
            device,
            lambda: hybridgen.VAE(
                epochs=epochs, batch_size=500, beta=0.5, random_state=SEED, device=device
            ),
        )
    if hasattr(hybridgen, "VAEGAN"):
        found["vaegan"] = Candidate(
            str(epochs),
            device,
            lambda: hybridgen.VAEGAN(
                epochs=epochs, batch_size=500, random_state=SEED, device=device
            ),
        )
    try:
        import ctgan
    except ImportError:
        return found
    gpu = device.startswith("cuda")  # ctgan picks its own CUDA device
    for name, cls in (("tvae", ctgan.TVAE), ("ctgan", ctgan.CTGAN)):
        found[name] = Candidate(
            str(epochs), "cuda" if gpu else "cpu", lambda c=cls: SdvSynthesizer(c, epochs, gpu)
        )
    return found


def utility(rows: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
    """TSTR (or TRTR) F1 and ROC AUC of both classifiers trained on ``rows``."""
    scores = {}
    for model in ("hgb", "logreg"):
        found = ml_utility(rows, test, TARGET, positive=POSITIVE, model=model, random_state=SEED)
        scores[f"{model}_f1"], scores[f"{model}_auc"] = found["f1"], found["roc_auc"]
    return scores


def ceiling(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    """The real-data row: classifiers trained on the train split; quality of test vs train."""
    return {"model": "real data (TRTR)", **utility(train, test), **quality_score(train, test)}


def measure(synthetic: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    """Utility, fidelity (against the train split) and privacy of one synthetic table."""
    return {
        **utility(synthetic, test),
        **quality_score(train, synthetic),
        "dcr": dcr_ratio(synthetic, train, test, random_state=SEED)["ratio"],
    }


def run(name: str, candidate: Candidate, train: pd.DataFrame, test: pd.DataFrame) -> dict:
    """Fit, sample and measure one model; return its table row (and its description).
    A fit that breaks down numerically is a result too: the row says so, the run goes on."""
    model = candidate.make()
    row = {"model": name, "epochs": candidate.epochs}
    row["description"] = f"{model!r} on {candidate.device}"
    start = time.perf_counter()
    try:
        model.fit(train)
    except NumericalError as exc:
        row["model"] += " (fit failed)"
        row["description"] += f": {type(exc).__name__}: {exc}"
        return row
    fitted = time.perf_counter()
    synthetic = model.sample(len(train))
    row.update(fit=fitted - start, sample=time.perf_counter() - fitted)
    row.update(measure(synthetic, train, test))
    if hasattr(model, "score"):
        row["loglik"] = model.score(test)
    return row


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table; a missing figure is "-"."""
    lines = [
        "| model | " + " | ".join(h for h, _ in COLUMNS.values()) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    for row in rows:
        cells = [fmt.format(row[k]) if k in row else "-" for k, (_, fmt) in COLUMNS.items()]
        lines.append(f"| {row['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        default=None,
        help="comma list among gmm, vae, vae-beta0.5, vaegan, tvae, ctgan (default: all available)",
    )
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument(
        "--rows",
        type=int,
        default=None,
        help="fit on this many train rows (quick runs; RESULTS.md is not written)",
    )
    parser.add_argument(
        "--device",
        default=None,
        help="device of the neural models (default auto); the GaussianMixture "
        "runs on the CPU unless this is given",
    )
    parser.add_argument(
        "--data", type=Path, default=DATA, help="folder holding adult_train.csv and adult_test.csv"
    )
    parser.add_argument(
        "--section",
        default="adult",
        help="RESULTS.md section to write (default adult; a GPU run appends the device)",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    available = candidates(args)
    names = [n.strip() for n in args.models.split(",")] if args.models else list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise SystemExit(f"Not available here: {unknown}; available: {list(available)}.")
    train = load_adult(args.data / "adult_train.csv")
    test = load_adult(args.data / "adult_test.csv")
    if args.rows is not None:
        train = train.sample(n=args.rows, random_state=SEED).reset_index(drop=True)
    rows = [ceiling(train, test)]
    print(table(rows), flush=True)
    for name in names:
        rows.append(run(name, available[name], train, test))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    body = table(rows)
    notes = "\n".join(f"- `{r['model']}`: {r['description']}; {machine()}" for r in rows[1:])
    print(f"\n{body}\n\n{notes}")
    if args.rows is not None:
        return
    heading = (
        f"## Adult: hybridgen against TVAE and CTGAN ({len(train):,} train rows, "
        f"{len(test):,} test rows, {len(train):,} synthetic rows, seed {SEED})\n\n"
        "TSTR: classifiers trained on synthetic rows, tested on the real test split (F1 of "
        "`>50K` at 0.5, ROC AUC); quality: SDMetrics QualityReport definitions, synthetic "
        "against the train split (the TRTR row: test against train); DCR ratio: median "
        "distance to the closest train row, synthetic over real test rows; held-out log-lik: "
        "mean log-likelihood per test row, nats. Times are wall clock, from this one run.\n\n"
    )
    command = f"python benchmarks/bench_adult.py --models {','.join(names)} --epochs {args.epochs}"
    if args.device:
        command += f" --device {args.device}"
    if args.section != "adult":
        command += f" --section {args.section}"
    device = "" if args.device in (None, "cpu") else f"-{args.device.split(':')[0]}"
    section = f"{args.section}{device}"
    write_section(section, f"{heading}{body}\n\n{notes}", command=command)


if __name__ == "__main__":
    main()
