"""The ``hybridgen`` command line: fit, sample, score, compare and demo.

::

    hybridgen fit data.csv --model vae --epochs 50 --hidden-dims 64,64 -o model.hg
    hybridgen sample model.hg -n 1000 -o synthetic.parquet --seed 0
    hybridgen score model.hg test.csv
    hybridgen compare data.csv --models gmm,vae --param vae.epochs=5 --report report/
    hybridgen compare images.npy --models gmm,vae --labels labels.npy

The model options of ``fit`` (and the values of ``compare --param``) are generated
from each estimator's ``get_params()`` defaults and ``_parameter_constraints``, so
they cannot drift from the estimators: the type comes from the default (a tuple is
a comma-separated list of ints; a default of None takes an int, a float, "none" or
a string), ``random_state`` is ``--seed`` and ``verbose`` is ``-v/--verbose``. The
command line only converts values; the estimator checks them in ``fit``.

Data files are read and written by extension: ``.csv``, ``.parquet`` (needs
``pyarrow``) and ``.npy`` (a numeric array, or images of shape (n, H, W) or
(n, C, H, W)).

Errors print one line, ``hybridgen: error: <message>``, and exit with

* 2 for a usage error: an unknown command, option or model, a value of the wrong
  type or out of range (the estimator's own message), a missing input file or an
  unsupported file extension;
* 1 for a data or model error: a file that cannot be parsed, data a model refuses,
  a fit that fails, a model file that cannot be read, a missing optional package.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import logging
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

import numpy as np
import pandas as pd

from . import __version__
from ._cli_files import (
    _EXTENSIONS,
    _check_folder,
    _check_output,
    _CommandError,
    _file_kind,
    _one_line,
    _read_data,
    _read_labels,
    _require_pyarrow,
    _write_data,
)
from ._cli_options import (
    _add_parameter_options,
    _given_params,
    _parameter_options,
    _parse_float,
    _parse_int,
    _with_verbose,
)
from .base import GenerativeModel, bits_per_dim
from .base import load as load_model
from .chunks import Chunks
from .exceptions import HybridgenError, InvalidParameterError
from .gmm import GaussianMixture
from .vae import VAE
from .vaegan import VAEGAN

__all__ = ["MODELS", "main"]

logger = logging.getLogger(__name__)

#: the estimators ``hybridgen fit --model`` knows, by name
MODELS: dict[str, type[GenerativeModel]] = {"gmm": GaussianMixture, "vae": VAE, "vaegan": VAEGAN}

_DESCRIPTION = """\
Fit, sample and score generative models of tables and images (Gaussian mixtures,
VAEs and VAE-GANs) from the command line."""

_EXAMPLES = """\
examples:
  hybridgen fit data.csv --model gmm --n-components 10 -o model.hg
  hybridgen sample model.hg -n 1000 --seed 0 -o synthetic.csv
  hybridgen score model.hg test.csv
  hybridgen compare data.csv --models gmm,vae --param vae.epochs=50 --report report/

Run 'hybridgen COMMAND --help' for a command's options."""


# -- errors and output ------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise :class:`_CommandError` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise _CommandError(f"{message} (see '{self.prog} --help')", 2)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_abbrev=False, **kwargs)


def _out(text: str) -> None:
    """The command's result, on stdout."""
    print(text, file=sys.stdout)


def _echo(text: str) -> None:
    """A summary or status line, on stderr (stdout may carry data)."""
    print(text, file=sys.stderr)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    _echo(f"hybridgen: warning: {category.__name__}: {_one_line(message)}")


@contextlib.contextmanager
def _reporting(verbosity: int) -> Iterator[None]:
    """hybridgen's log on stderr, one line a record (WARNING and up; -v: INFO; -vv: DEBUG),
    and warnings as one line each."""
    package = logging.getLogger("hybridgen")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("hybridgen: %(message)s"))
    old = package.level, package.propagate
    package.addHandler(handler)
    package.propagate = False
    if verbosity:
        package.setLevel(logging.INFO if verbosity == 1 else logging.DEBUG)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            yield
    finally:
        package.removeHandler(handler)
        package.setLevel(old[0])
        package.propagate = old[1]


# -- data and models --------------------------------------------------------------------------
def _describe(data: pd.DataFrame | np.ndarray) -> str:
    if isinstance(data, np.ndarray) and data.ndim in (3, 4):
        return f"{len(data)} images of shape {data.shape[1:]}"
    rows, columns = (len(data), 1) if np.ndim(data) == 1 else np.shape(data)[:2]
    return f"{rows} rows x {columns} columns"


def _load(path: str, device: str | None) -> GenerativeModel:
    if not Path(path).is_file():
        raise _CommandError(f"model file {path!r} does not exist")
    logger.info("loading %s", path)
    return load_model(path, device=device)


def _fitted_kind(model: GenerativeModel) -> str | None:
    """What the model was fitted on: "frame", "array" or "image"."""
    return getattr(model.transformer_, "input_kind_", None)


def _as_model_input(model: GenerativeModel, data: pd.DataFrame | np.ndarray) -> Any:
    """A table read from CSV or Parquet, as an array for a model fitted on an array."""
    if _fitted_kind(model) == "array" and isinstance(data, pd.DataFrame):
        return data.to_numpy()
    return data


# -- fit ----------------------------------------------------------------------------------------
def _add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log progress (INFO; -vv: DEBUG) and show the estimators' progress bars",
    )


def _fit_parser(model: str | None) -> _Parser:
    """The ``fit`` parser; with ``model``, its generated options (the second phase)."""
    names = ", ".join(MODELS)
    parser = _Parser(
        prog="hybridgen fit",
        usage=f"hybridgen fit DATA --model {model or '{' + ','.join(MODELS) + '}'} "
        "[options] -o MODEL_FILE",
        description="Fit a model to DATA and save it.",
        epilog=None
        if model
        else "The model options depend on --model: run 'hybridgen fit --model MODEL --help' "
        f"to list them (MODEL: {names}).",
        add_help=False,
    )
    parser.add_argument(
        "-h", "--help", action="store_true", help="show this help (with --model, its options)"
    )
    parser.add_argument(
        "data",
        metavar="DATA",
        nargs=None if model else "?",
        help="training data: .csv, .parquet or .npy (a numeric array, or images of shape "
        "(n, H, W) or (n, C, H, W), uint8 or floats in [0, 1])",
    )
    parser.add_argument("--model", choices=list(MODELS), required=bool(model), help="the model")
    parser.add_argument(
        "-o", "--output", required=bool(model), metavar="MODEL_FILE", help="where to save it"
    )
    _add_chunk_size(parser, "fit (--model gmm only: the other models train in memory)")
    _add_verbose(parser)
    if model:
        _add_parameter_options(parser, MODELS[model])
    return parser


def _add_chunk_size(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--chunk-size",
        type=_parse_int,
        metavar="ROWS",
        help=f"read a .csv or .parquet DATA ROWS rows at a time, never whole, to {what}",
    )


def _chunks(path: str, chunk_size: int, model: GenerativeModel | None = None) -> Chunks:
    """DATA read ``chunk_size`` rows at a time (as arrays for a model fitted on one)."""
    if not Path(path).is_file():
        raise _CommandError(f"DATA file {path!r} does not exist")
    if _file_kind(path, "DATA") == "npy" or chunk_size < 1:
        raise _CommandError("--chunk-size needs a .csv or .parquet DATA and ROWS >= 1")
    if _file_kind(path, "DATA") == "parquet":
        _require_pyarrow("reading")
    chunks = Chunks(path, chunk_size=chunk_size)
    if model is None:
        return chunks
    return Chunks(lambda: (_as_model_input(model, chunk) for chunk in chunks))


def _parse_fit(argv: list[str]) -> argparse.Namespace | None:
    """Two phases: find --model (and --help), then parse with that model's options.
    Returns None when help was printed."""
    first, _ = _fit_parser(None).parse_known_args(argv)
    if first.model is None and not first.help:
        raise _CommandError(
            "the following arguments are required: --model (see 'hybridgen fit --help')"
        )
    parser = _fit_parser(first.model)
    if first.help:
        parser.print_help(sys.stdout)
        return None
    return parser.parse_args(argv)


def _fit(args: argparse.Namespace, verbosity: int) -> int:
    cls = MODELS[args.model]
    params = _with_verbose(cls, _given_params(args), verbosity)
    _check_folder(args.output)
    if Path(args.output).suffix.lower() in _EXTENSIONS:
        raise _CommandError(f"-o {args.output!r} looks like a data file; models are saved as .hg")
    if args.chunk_size is not None and args.model != "gmm":
        raise _CommandError(
            f"--chunk-size streams DATA through the gmm model only; {args.model} trains in "
            "memory (drop --chunk-size)"
        )
    data = _read_data(args.data) if args.chunk_size is None else _chunks(args.data, args.chunk_size)
    estimator = cls(**params)
    logger.info("fitting %r", estimator)
    start = time.perf_counter()
    estimator.fit(data)
    seconds = time.perf_counter() - start
    estimator.save(args.output)
    described = (
        _describe(data)
        if args.chunk_size is None
        else f"{estimator.n_samples_seen_} rows read {args.chunk_size} at a time"
    )
    _echo(f"fitted {cls.__name__} on {described} in {seconds:.2f} s; saved to {args.output}")
    return 0


# -- sample and score ---------------------------------------------------------------------------
def _sample_parser() -> _Parser:
    parser = _Parser(
        prog="hybridgen sample",
        description="Draw new rows (or images) from a saved model.",
    )
    parser.add_argument("model", metavar="MODEL_FILE", help="a model saved by 'hybridgen fit'")
    parser.add_argument(
        "-n",
        "--n-samples",
        type=_parse_int,
        metavar="INT",
        default=1000,
        help="how many (default: 1000)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="a .csv, .parquet or .npy file (default: CSV on stdout; images need .npy)",
    )
    parser.add_argument(
        "--seed",
        type=_parse_int,
        metavar="INT",
        help="seed of this draw (default: the model's random_state)",
    )
    parser.add_argument(
        "--where",
        action="append",
        metavar="COLUMN=VALUE",
        default=[],
        help="a condition every drawn row meets (repeatable): a category or number, or "
        "a numeric range LOW..HIGH (either end may be left out), e.g. --where "
        "income='>50K' --where age=30..40; columns of an array by position",
    )
    parser.add_argument(
        "--label", metavar="LABEL", help="images fitted with labels: the class to draw"
    )
    parser.add_argument("--device", help="device to sample on (default: the saved one)")
    _add_verbose(parser)
    return parser


def _sample(args: argparse.Namespace, verbosity: int) -> int:
    model = _load(args.model, args.device)
    _check_output(args.output, images=_fitted_kind(model) == "image")
    conditions = _conditions(model, args.where, args.label)
    samples = model.sample(args.n_samples, random_state=args.seed, conditions=conditions)
    _write_data(samples, args.output)
    if args.output is not None:
        _echo(f"wrote {_describe(samples)} to {args.output}")
    return 0


def _conditions(model: Any, where: list[str], label: str | None) -> Any:
    """``sample``'s conditions from ``--where COLUMN=VALUE`` and ``--label``, each value
    read as the fitted column's kind (or class) expects."""
    if label is not None:
        classes = getattr(model, "classes_", None)
        if classes is None:
            raise InvalidParameterError(
                "--label needs a model fitted on images with labels; this one has none."
            )
        matches = [c for c in classes.tolist() if str(c) == label]
        return matches[0] if matches else label
    if not where:
        return None
    specs = {str(spec.name): spec for spec in getattr(model.transformer_, "columns_", ())}
    conditions: dict[Any, Any] = {}
    for item in where:
        name, sep, text = item.partition("=")
        if not sep or name not in specs:
            raise InvalidParameterError(
                f"--where expects COLUMN=VALUE with one of the fitted columns "
                f"{list(specs)[:10]}; got {item!r}."
            )
        spec = specs[name]
        conditions[spec.name] = _condition_value(spec, text, item)
    return conditions


def _condition_value(spec: Any, text: str, item: str) -> Any:
    if not spec.is_numeric:
        matches = [c for c in spec.categories if str(c) == text]
        return matches[0] if matches else text  # the model names the categories it knows
    try:
        if ".." in text:
            low, high = (end.strip() for end in text.split("..", 1))
            return (float(low) if low else None, float(high) if high else None)
        number = float(text)
    except ValueError:
        raise InvalidParameterError(
            f"--where {item!r}: column {spec.name!r} is numeric; expected a number or a "
            "range LOW..HIGH."
        ) from None
    return int(number) if spec.kind == "integer" and number.is_integer() else number


def _score_parser() -> _Parser:
    parser = _Parser(
        prog="hybridgen score",
        description="The mean log-likelihood per row of DATA under a saved model, in nats "
        "(and in bits per dimension for images).",
    )
    parser.add_argument("model", metavar="MODEL_FILE", help="a model saved by 'hybridgen fit'")
    parser.add_argument("data", metavar="DATA", help="a .csv, .parquet or .npy file")
    parser.add_argument(
        "--per-row",
        action="store_true",
        help="also write each row's log-likelihood (to -o FILE, else as CSV to stdout, the "
        "mean then going to stderr)",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="a .csv, .parquet or .npy file (implies --per-row)"
    )
    parser.add_argument("--device", help="device to score on (default: the saved one)")
    _add_chunk_size(parser, "score it")
    _add_verbose(parser)
    return parser


def _score(args: argparse.Namespace, verbosity: int) -> int:
    _check_output(args.output)
    model = _load(args.model, args.device)
    if args.chunk_size is None:
        data = _as_model_input(model, _read_data(args.data))
    else:
        data = _chunks(args.data, args.chunk_size, model)
    log_likelihood = model.score_samples(data)
    mean = float(np.mean(log_likelihood))
    line = f"mean log-likelihood: {mean:.6g} nats per row ({len(log_likelihood)} rows)"
    per_row = pd.DataFrame({"log_likelihood": log_likelihood})
    if _fitted_kind(model) == "image":
        n_dims = int(model.transformer_.n_features_in_)
        line += f"; {float(bits_per_dim(mean, n_dims)):.6g} bits/dim"
        per_row["bits_per_dim"] = bits_per_dim(log_likelihood, n_dims)
    if args.output is not None:
        is_npy = _file_kind(args.output, "output") == "npy"
        _write_data(log_likelihood if is_npy else per_row, args.output)
    elif args.per_row:
        _write_data(per_row, None)
        _echo(line)
        return 0
    _out(line)
    return 0


# -- compare ------------------------------------------------------------------------------------
def _compare_parser() -> _Parser:
    parser = _Parser(
        prog="hybridgen compare",
        description="Fit several models on one train/test split with one seed, sample from "
        "each and measure the samples (time, likelihood, fidelity, privacy, utility).",
        epilog="Model names: gmm, vae, vaegan, sklearn-gmm, tvae, ctgan (tvae and ctgan need "
        "the 'ctgan' package). --param takes each model's get_params() names and values "
        "typed as in 'hybridgen fit' (e.g. --param vae.hidden_dims=64,64).",
    )
    parser.add_argument("data", metavar="DATA", help="a .csv, .parquet or .npy file")
    parser.add_argument(
        "--models", required=True, metavar="NAMES", help="comma-separated, e.g. gmm,vae,vaegan"
    )
    parser.add_argument("--target", metavar="COLUMN", help="a column to measure utility on")
    parser.add_argument(
        "--labels",
        metavar="PATH",
        help="class labels of the images in DATA (a .npy array, or a .csv or .parquet with "
        "one column): adds the feature-space metrics (Frechet distance, precision, recall, "
        "density, coverage)",
    )
    split = parser.add_mutually_exclusive_group()
    split.add_argument("--test", metavar="DATA2", help="held-out data (DATA is then all train)")
    split.add_argument(
        "--test-size",
        type=_parse_float,
        metavar="FLOAT",
        default=0.25,
        help="held-out fraction of DATA (default: 0.25)",
    )
    parser.add_argument(
        "--n-samples",
        type=_parse_int,
        metavar="INT",
        help="synthetic rows per model (default: as many as train)",
    )
    parser.add_argument(
        "--seed",
        type=_parse_int,
        metavar="INT",
        default=0,
        help="seed of the split and models (default: 0)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="MODEL.NAME=VALUE",
        help="a model parameter, e.g. vae.epochs=5; repeat for more",
    )
    parser.add_argument("--report", metavar="DIR", help="write a Markdown and HTML report here")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the tidy scores (.csv, ...)")
    _add_verbose(parser)
    return parser


def _model_params(
    specs: Sequence[str], names: Sequence[str], models: dict[str, type]
) -> dict[str, dict[str, Any]]:
    """``["vae.epochs=5"]`` -> ``{"vae": {"epochs": 5}, ...}``, typed as the fit options."""
    params: dict[str, dict[str, Any]] = {name: {} for name in names}
    for spec in specs:
        found = re.fullmatch(r"([^.=]+)\.([^=]+)=(.*)", spec)
        if found is None:
            raise _CommandError(f"argument --param: expected MODEL.NAME=VALUE, got {spec!r}")
        model, name, text = (part.strip() for part in found.groups())
        if model not in params:
            raise _CommandError(
                f"argument --param {spec}: model {model!r} is not in --models ({', '.join(names)})"
            )
        options = {option.name: option for option in _parameter_options(models[model])}
        if name not in options:
            raise _CommandError(
                f"argument --param {spec}: {models[model].__name__} has no parameter "
                f"{name!r}; its parameters are {', '.join(options)}"
            )
        try:
            params[model][name] = options[name].parse(text)
        except argparse.ArgumentTypeError as exc:
            raise _CommandError(f"argument --param {spec}: {exc}") from None
    return params


def _image_labels(path: str, data: pd.DataFrame | np.ndarray) -> np.ndarray:
    """The labels of ``--labels PATH``, one per image of DATA."""
    if isinstance(data, pd.DataFrame) or np.ndim(data) not in (3, 4):
        raise _CommandError(
            "argument --labels: labels are for images, DATA of shape (n, H, W) or (n, C, H, W); "
            f"DATA is {_describe(data)} (a table's class column is --target COLUMN)"
        )
    labels = _read_labels(path)
    if len(labels) != len(data):
        raise _CommandError(
            f"--labels {path!r} has {len(labels)} labels but DATA has {len(data)} images", 1
        )
    return labels


def _compare(args: argparse.Namespace, verbosity: int) -> int:
    from . import compare as comparing  # imported here: it loads the metrics' dependencies

    names = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in names if name not in comparing.MODELS]
    if unknown or not names or len(set(names)) < len(names):
        problem = f"unknown model {unknown[0]!r}" if unknown else "each model at most once"
        raise _CommandError(
            f"argument --models: {problem}; choose from {', '.join(comparing.MODELS)}"
        )
    params = _model_params(args.param, names, comparing.MODELS)
    if args.output is not None:
        _check_output(args.output)
    estimators = {
        name: comparing.make_model(
            name, **_with_verbose(comparing.MODELS[name], params[name], verbosity)
        )
        for name in names
    }
    data = _read_data(args.data)
    labels = None if args.labels is None else _image_labels(args.labels, data)
    test = None if args.test is None else _read_data(args.test, "--test")
    scores = comparing.compare(
        estimators,
        data,
        test_data=test,
        test_size=args.test_size,
        target=args.target,
        labels=labels,
        n_samples=args.n_samples,
        random_state=args.seed,
        report=args.report,
        verbose=bool(verbosity),
    )
    _out(comparing.score_table(scores).to_string(float_format=lambda v: f"{v:.4g}", na_rep="-"))
    if args.output is not None:
        _write_data(scores, args.output)
        _echo(f"scores written to {args.output}")
    if args.report is not None:
        html = Path(args.report) / "report.html"
        _echo(f"report: {html if html.is_file() else args.report}")
    return 0


# -- demo and dispatch --------------------------------------------------------------------------
def _demo(args: argparse.Namespace, verbosity: int) -> int:
    from . import demo

    run: Callable[..., Any] = demo.main
    if inspect.signature(run).parameters:
        result = run(args.argv)
    elif args.argv:
        raise _CommandError("this version's demo takes no arguments")
    else:
        result = run()
    return result if isinstance(result, int) else 0


def _parse_with(make_parser: Callable[[], _Parser]) -> Callable[[list[str]], argparse.Namespace]:
    return lambda argv: make_parser().parse_args(argv)


_Command = tuple[
    str,
    Callable[[list[str]], "argparse.Namespace | None"],
    Callable[[argparse.Namespace, int], int],
]

#: name -> (one-line help, parse its arguments, run it with the total verbosity)
_COMMANDS: dict[str, _Command] = {
    "fit": ("fit a model to a .csv, .parquet or .npy file and save it", _parse_fit, _fit),
    "sample": ("draw new rows or images from a saved model", _parse_with(_sample_parser), _sample),
    "score": ("log-likelihood of data under a saved model", _parse_with(_score_parser), _score),
    "compare": (
        "fit several models on one split and compare them",
        _parse_with(_compare_parser),
        _compare,
    ),
    "demo": (
        "compare the three models on built-in data and write a report (a few minutes)",
        lambda argv: argparse.Namespace(argv=argv, verbose=0),
        _demo,
    ),
}


def _main_parser() -> _Parser:
    commands = "\n".join(f"  {name:<9} {text}" for name, (text, _, _) in _COMMANDS.items())
    parser = _Parser(
        prog="hybridgen",
        usage="hybridgen [-h] [--version] [-v] COMMAND [ARGS ...]",
        description=f"{_DESCRIPTION}\n\ncommands:\n{commands}",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hybridgen {__version__}")
    _add_verbose(parser)
    parser.add_argument(
        "command", metavar="COMMAND", choices=list(_COMMANDS), help=argparse.SUPPRESS
    )
    return parser


def _split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the options before the command and the command, the command's own arguments)."""
    for i, token in enumerate(argv):
        if not token.startswith("-"):
            return argv[: i + 1], argv[i + 1 :]
    return argv, []


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hybridgen`` command line.

    Parameters
    ----------
    argv : sequence of str or None, default=None
        The arguments after the program name; None reads ``sys.argv[1:]``.

    Returns
    -------
    exit_code : int
        0 on success, 2 for a usage error, 1 for a data or model error (each with a
        one-line message on stderr).
    """
    head, rest = _split_command(list(sys.argv[1:] if argv is None else argv))
    try:
        args = _main_parser().parse_args(head)
        _, parse, run = _COMMANDS[args.command]
        command_args = parse(rest)
        if command_args is None:  # help was printed
            return 0
        verbosity = args.verbose + command_args.verbose
        with _reporting(verbosity):
            return run(command_args, verbosity)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except _CommandError as exc:
        message, code = str(exc), exc.exit_code
    except InvalidParameterError as exc:  # a value the estimator refuses: a usage error
        message, code = _one_line(exc), 2
    except HybridgenError as exc:
        message, code = _one_line(exc), 1
    except KeyboardInterrupt:
        message, code = "interrupted", 130
    _echo(f"hybridgen: error: {message}")
    return code


if __name__ == "__main__":
    sys.exit(main())
