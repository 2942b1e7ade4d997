"""A comparison report: Markdown with PNG files beside it, and one self-contained HTML file.

:func:`write_report` takes the :class:`~hybridgen.compare.Comparison` that
:func:`hybridgen.compare.run_comparison` returns (``compare(..., report=DIR)`` calls
it) and writes into ``DIR``:

``report.md`` and ``*.png``
    The metric table (metrics as rows, estimators as columns) and the plots, linked.
``report.html``
    The same content with the PNGs embedded (base64), readable offline and shareable
    as one file.

Plots: metric bars; per-column marginals, real against each model; the pair-trend
difference of every two columns (``1 -`` correlation or contingency similarity) as a
heatmap per model; training curves of the neural models; image sample grids.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .compare import REAL, Comparison, score_table
from .metrics import column_pair_trends, is_numeric

__all__ = ["write_report"]

logger = logging.getLogger(__name__)

#: marginal plots show at most this many columns
MAX_COLUMNS = 24
#: a numeric marginal uses this many bins
BINS = 30
#: images per model in a sample grid (a square number)
GRID = 36


@dataclass
class _Figure:
    name: str
    caption: str
    png: bytes


@dataclass
class _Block:
    kind: str  # "heading", "text", "table", "figure"
    content: Any
    level: int = 2


def write_report(
    comparison: Comparison | Mapping[str, Comparison], directory: str | PathLike[str]
) -> Path:
    """Write ``report.md``, its PNG plots and a self-contained ``report.html``.

    Parameters
    ----------
    comparison : Comparison, or dict of section title -> Comparison
        What :func:`hybridgen.compare.run_comparison` returned; several (e.g. one per
        dataset) make one report with a section each.
    directory : path
        Created if missing; files of an earlier report there are replaced.

    Returns
    -------
    path : Path to ``report.html``
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    blocks = [_Block("heading", "hybridgen comparison", level=1)]
    if isinstance(comparison, Comparison):
        blocks += _blocks(comparison, prefix="", level=2)
    else:
        for title, part in comparison.items():
            blocks.append(_Block("heading", title, level=2))
            blocks += _blocks(part, prefix=f"{_slug(title)}-", level=3)
    for block in blocks:
        if block.kind == "figure":
            (directory / block.content.name).write_bytes(block.content.png)
    (directory / "report.md").write_text(_markdown(blocks), encoding="utf-8")
    path = directory / "report.html"
    path.write_text(_html(blocks), encoding="utf-8")
    logger.info("report written to %s", path)
    return path


# -- content -------------------------------------------------------------------------------------
def _blocks(comparison: Comparison, prefix: str, level: int) -> list[_Block]:
    """The blocks of one comparison; figure files are named ``prefix + name``."""
    names = list(comparison.synthetic)
    blocks = [
        _Block("text", _summary(comparison)),
        _Block("heading", "Scores"),
        _Block("text", _reading_guide(comparison.kind)),
        _Block("table", score_table(comparison.scores)),
    ]
    if len(comparison.scores):
        blocks.append(_Block("figure", _metric_bars(comparison.scores)))
    if comparison.errors:
        blocks.append(_Block("heading", "Failures"))
        blocks += [_Block("text", f"`{n}`: {e}") for n, e in comparison.errors.items()]
    if comparison.kind == "image":
        blocks += [_Block("heading", "Samples"), _Block("figure", _image_grids(comparison))]
    elif names:
        blocks.append(_Block("heading", "Marginals, real against synthetic"))
        blocks += [_Block("figure", _marginals(comparison, n, i)) for i, n in enumerate(names)]
        if comparison.train.shape[1] > 1:
            blocks += [
                _Block("heading", "Pair trends"),
                _Block("figure", _pair_heatmaps(comparison)),
            ]
    if comparison.histories:
        blocks += [_Block("heading", "Training"), _Block("figure", _training(comparison))]
    blocks.append(_Block("heading", "Models"))
    blocks += [_Block("text", f"`{n}`: `{d}`") for n, d in comparison.descriptions.items()]
    for block in blocks:
        if block.kind == "heading":
            block.level = level
        elif block.kind == "figure":
            block.content.name = prefix + block.content.name
    return blocks


def _summary(comparison: Comparison) -> str:
    train, test = comparison.train, comparison.test
    if comparison.kind == "image":
        shape = "x".join(map(str, np.shape(train)[1:]))
        data = f"{len(train):,} training and {len(test):,} held-out images of {shape}"
    else:
        data = (
            f"{len(train):,} training and {len(test):,} held-out rows, {train.shape[1]} "
            f"columns ({sum(is_numeric(train[c]) for c in train.columns)} numeric)"
        )
    target = "" if comparison.target is None else f"; utility target `{comparison.target}`"
    return (
        f"{data}{target}; seed {comparison.random_state}. Written by hybridgen {__version__} "
        f"on {date.today().isoformat()}."
    )


def _reading_guide(kind: str) -> str:
    real = (
        "the real training images measured against the held-out ones"
        if kind == "image"
        else "the real held-out rows measured in place of synthetic ones (utility learnt "
        "from the real training rows)"
    )
    return (
        f"One row per metric; `best` says which value is better. The `{REAL}` column is "
        f"the ceiling: {real}."
    )


def _format(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


# -- plots ---------------------------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any, name: str, caption: str) -> _Figure:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return _Figure(name, caption, buffer.getvalue())


def _grid(n: int, width: int = 4) -> tuple[int, int]:
    cols = max(1, min(n, width))
    return max(1, math.ceil(n / cols)), max(1, cols)


def _metric_bars(scores: pd.DataFrame) -> _Figure:
    plt = _pyplot()
    metrics = list(dict.fromkeys(scores["metric"]))
    estimators = [e for e in dict.fromkeys(scores["estimator"]) if e != REAL]
    colour = {REAL: "0.6", **{e: f"C{i}" for i, e in enumerate(estimators)}}
    rows, cols = _grid(len(metrics))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        part = scores[scores["metric"] == metric]
        ax.barh(part["estimator"], part["value"], color=[colour[e] for e in part["estimator"]])
        ax.set_title(f"{metric} ({part['best'].iloc[0]})", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.invert_yaxis()
    for ax in axes.flat[len(metrics) :]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig, "metrics.png", "Every metric, per estimator (grey: real held-out data).")


def _marginals(comparison: Comparison, name: str, index: int) -> _Figure:
    plt = _pyplot()
    real, fake = comparison.train, comparison.synthetic[name]
    columns = list(real.columns)[:MAX_COLUMNS]
    rows, cols = _grid(len(columns))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.3 * rows), squeeze=False)
    for ax, column in zip(axes.flat, columns, strict=False):
        if is_numeric(real[column]):
            values = real[column].dropna().to_numpy(dtype=float)
            low, high = np.quantile(values, [0.005, 0.995]) if len(values) else (0.0, 1.0)
            if pd.api.types.is_integer_dtype(real[column]) and high - low <= 2 * BINS:
                bins = np.arange(round(low) - 0.5, round(high) + 1.0, 1.0)  # one per value
            else:
                bins = np.linspace(low, high if high > low else low + 1, BINS + 1)
            for frame, label, style in ((real, "real", "0.3"), (fake, name, "C1")):
                data = frame[column].dropna().to_numpy(dtype=float).clip(bins[0], bins[-1])
                ax.hist(data, bins=bins, density=True, histtype="step", color=style, label=label)
            ax.ticklabel_format(axis="both", style="sci", scilimits=(-3, 4), useOffset=False)
        else:
            freq = pd.DataFrame(
                {
                    "real": real[column].astype(str).value_counts(normalize=True),
                    name: fake[column].astype(str).value_counts(normalize=True),
                }
            ).fillna(0.0)
            freq = freq.sort_values("real", ascending=False).head(12)
            positions = np.arange(len(freq))
            ax.bar(positions - 0.2, freq["real"], 0.4, color="0.5", label="real")
            ax.bar(positions + 0.2, freq[name], 0.4, color="C1", label=name)
            ax.set_xticks(positions, [str(i)[:10] for i in freq.index], rotation=60, fontsize=7)
        ax.set_title(str(column), fontsize=9)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7)
    for ax in axes.flat[len(columns) :]:
        ax.axis("off")
    fig.tight_layout()
    file = f"marginals-{index + 1}-{_slug(name)}.png"  # the index keeps "a b" and "a-b" apart
    return _png(fig, file, f"Marginals: real training rows against {name}.")


def _pair_heatmaps(comparison: Comparison) -> _Figure:
    plt = _pyplot()
    names = list(comparison.synthetic)
    columns = list(comparison.train.columns)[:MAX_COLUMNS]
    real = comparison.train[columns]
    rows, cols = _grid(len(names), 3)
    size = 1.6 + 0.28 * len(columns)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    image = None
    for ax, name in zip(axes.flat, names, strict=False):
        trends = column_pair_trends(real, comparison.synthetic[name][columns])
        matrix = np.full((len(columns), len(columns)), np.nan)
        index = {c: i for i, c in enumerate(columns)}
        for a, b, score in trends[["column_1", "column_2", "score"]].itertuples(index=False):
            matrix[index[a], index[b]] = matrix[index[b], index[a]] = 1.0 - score
        image = ax.imshow(matrix, vmin=0.0, vmax=0.5, cmap="magma_r")
        ax.set_xticks(range(len(columns)), [str(c)[:10] for c in columns], rotation=90, fontsize=7)
        ax.set_yticks(range(len(columns)), [str(c)[:10] for c in columns], fontsize=7)
        ax.set_title(name, fontsize=9)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6, label="1 - similarity")
    return _png(
        fig,
        "pair-trends.png",
        "Difference from the real data of every two columns' relation: 1 - correlation "
        "similarity (numeric pairs) or 1 - contingency similarity (others); 0 is perfect.",
    )


def _training(comparison: Comparison) -> _Figure:
    plt = _pyplot()
    names = list(comparison.histories)
    rows, cols = _grid(len(names), 3)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        history = pd.DataFrame(comparison.histories[name]).set_index("epoch")
        for key in history.columns.drop("seconds", errors="ignore"):
            ax.plot(history.index, history[key], label=key)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig, "training.png", "Per-epoch training records of the neural models.")


def _tile(images: np.ndarray) -> np.ndarray:
    """(n, H, W) or (n, C, H, W) -> one (rows*H, cols*W[, C]) mosaic, values in [0, 1]."""
    images = np.asarray(images)[:GRID].astype(np.float64)
    images = images / 255.0 if images.max(initial=0.0) > 1.0 else images
    if images.ndim == 4:
        images = images.transpose(0, 2, 3, 1)
        images = images[..., 0] if images.shape[-1] == 1 else images
    side = int(math.isqrt(GRID))
    h, w = images.shape[1] + 1, images.shape[2] + 1  # a one-pixel grey gap between tiles
    padded = np.full((side * side, h, w, *images.shape[3:]), 0.5)
    padded[: len(images), :-1, :-1] = images
    mosaic = padded.reshape(side, side, h, w, *images.shape[3:]).swapaxes(1, 2)
    return mosaic.reshape(side * h, side * w, *images.shape[3:])


def _image_grids(comparison: Comparison) -> _Figure:
    plt = _pyplot()
    sets = {"real": comparison.test, **comparison.synthetic}
    fig, axes = plt.subplots(1, len(sets), figsize=(3.6 * len(sets), 3.9), squeeze=False)
    for ax, (name, images) in zip(axes.flat, sets.items(), strict=False):
        ax.imshow(_tile(images), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return _png(fig, "samples.png", "Held-out real images and each model's samples.")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


# -- rendering -----------------------------------------------------------------------------------
def _markdown(blocks: list[_Block]) -> str:
    out = []
    for block in blocks:
        if block.kind == "heading":
            out.append(f"{'#' * block.level} {block.content}")
        elif block.kind == "text":
            out.append(block.content)
        elif block.kind == "table":
            table = block.content
            header = ["metric", *map(str, table.columns)]
            lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            for metric, row in table.iterrows():
                lines.append("| " + " | ".join([str(metric), *map(_format, row)]) + " |")
            out.append("\n".join(lines))
        else:
            figure = block.content
            out.append(f"![{figure.caption}]({figure.name})\n\n_{figure.caption}_")
    return "\n\n".join(out) + "\n"


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
thead th { background: #f2f2f2; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; }
figcaption { color: #555; font-size: 0.9em; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


def _inline_code(text: str) -> str:
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _html(blocks: list[_Block]) -> str:
    body = []
    for block in blocks:
        if block.kind == "heading":
            body.append(f"<h{block.level}>{html.escape(block.content)}</h{block.level}>")
        elif block.kind == "text":
            body.append(f"<p>{_inline_code(block.content)}</p>")
        elif block.kind == "table":
            table = block.content
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in ["metric", *table.columns])
            rows = [
                "<tr>"
                + "".join(f"<td>{html.escape(v)}</td>" for v in [str(m), *map(_format, row)])
                + "</tr>"
                for m, row in table.iterrows()
            ]
            body.append(
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            )
        else:
            figure = block.content
            data = base64.b64encode(figure.png).decode("ascii")
            caption = html.escape(figure.caption)
            body.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{caption}">'
                f"<figcaption>{caption}</figcaption></figure>"
            )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>hybridgen comparison</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
