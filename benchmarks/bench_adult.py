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
from pathlib import Path
from typing import Any

from _results import machine, write_section

import hybridgen
from hybridgen.adapters import CTGANSynthesizer, TVAESynthesizer
from hybridgen.base import resolve_device
from hybridgen.compare import REAL, Comparison, run_comparison
from hybridgen.datasets import load_adult

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
TARGET, SEED = "income", 0
COLUMNS = {  # compare's metric -> (heading, format)
    "epochs": ("epochs", "{}"),
    "fit_seconds": ("fit s", "{:.1f}"),
    "sample_seconds": ("sample s", "{:.2f}"),
    "hgb_f1": ("HGB F1", "{:.3f}"),
    "hgb_roc_auc": ("HGB AUC", "{:.3f}"),
    "logreg_f1": ("LR F1", "{:.3f}"),
    "logreg_roc_auc": ("LR AUC", "{:.3f}"),
    "column_shapes": ("shapes", "{:.3f}"),
    "column_pair_trends": ("pairs", "{:.3f}"),
    "overall_quality": ("overall", "{:.3f}"),
    "detection_auc": ("detection AUC", "{:.3f}"),
    "dcr_ratio": ("DCR ratio", "{:.2f}"),
    "log_likelihood": ("held-out log-lik", "{:.2f}"),
}


def candidates(args: argparse.Namespace) -> dict[str, Any]:
    """Every model this environment can run, by name (unfitted; compare seeds them)."""
    device, epochs = str(resolve_device(args.device or "auto")), args.epochs
    gmm_device = str(resolve_device(args.device or "cpu"))
    neural = {"epochs": epochs, "batch_size": 500, "device": device}
    found: dict[str, Any] = {
        "gmm": hybridgen.GaussianMixture(n_components=20, max_iter=200, device=gmm_device),
        "vae": hybridgen.VAE(**neural),
        # TVAE-equivalent weighting: TVAE multiplies its reconstruction term by 2
        # (loss_factor=2), which is a KL weight of 0.5 relative to it
        "vae-beta0.5": hybridgen.VAE(beta=0.5, **neural),
        "vaegan": hybridgen.VAEGAN(**neural),
    }
    try:
        import ctgan  # noqa: F401
    except ImportError:
        return found
    found["tvae"] = TVAESynthesizer(**neural)
    found["ctgan"] = CTGANSynthesizer(**neural)
    return found


def rows(comparison: Comparison, epochs: dict[str, str]) -> list[dict[str, Any]]:
    """One table row per model (the real-data ceiling first), from compare's tidy scores."""
    wide = comparison.scores.pivot(index="estimator", columns="metric", values="value")
    out = [{"model": "real data (TRTR)", **wide.loc[REAL].dropna().to_dict()}]
    for name in epochs:
        if name in comparison.errors:
            out.append({"model": f"{name} (fit failed)", "epochs": epochs[name]})
            continue
        out.append({"model": name, "epochs": epochs[name], **wide.loc[name].dropna().to_dict()})
    return out


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
    parser.add_argument("--report", type=Path, default=None, help="also write a report here")
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
    comparison = run_comparison(
        {name: available[name] for name in names},
        train,
        test_data=test,
        target=TARGET,
        random_state=SEED,
        verbose=True,
    )
    if args.report is not None:
        from hybridgen.report import write_report

        print(f"report: {write_report(comparison, args.report)}")
    epochs = {n: "-" if n == "gmm" else str(args.epochs) for n in names}
    body = table(rows(comparison, epochs))
    notes = "\n".join(
        f"- `{n}`: {comparison.errors.get(n, comparison.descriptions[n])}; {machine()}"
        for n in names
    )
    print(f"\n{body}\n\n{notes}")
    if args.rows is not None:
        return
    heading = (
        f"## Adult: {', '.join(names)} ({len(train):,} train rows, "
        f"{len(test):,} test rows, {len(train):,} synthetic rows, seed {SEED})\n\n"
        "Measured with `hybridgen.compare.run_comparison`. TSTR: classifiers trained on "
        "synthetic rows, tested on the real test split (F1 of `>50K` at 0.5, ROC AUC); "
        "quality: SDMetrics QualityReport definitions, synthetic against the train split "
        "(the TRTR row: test against train); detection: cross-validated ROC AUC of a "
        "logistic regression telling synthetic from train rows (0.5 is best); DCR ratio: "
        "median distance to the closest train row, synthetic over real test rows; "
        "held-out log-lik: mean log-likelihood per test row, nats. Times are wall clock, "
        "from this one run.\n\n"
    )
    command = f"python benchmarks/bench_adult.py --models {','.join(names)} --epochs {args.epochs}"
    if args.device:
        command += f" --device {args.device}"
    if args.section != "adult":
        command += f" --section {args.section}"
    device = "" if args.device in (None, "cpu") else f"-{args.device.split(':')[0]}"
    write_section(f"{args.section}{device}", f"{heading}{body}\n\n{notes}", command=command)


if __name__ == "__main__":
    main()
