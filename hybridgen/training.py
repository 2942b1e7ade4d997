"""The one training loop of the neural estimators, and the fit skeleton they share.

An estimator owns WHAT is optimised: its networks (``module_``), its parameter groups
(one optimiser each) and its losses, returned as one :class:`Losses` bundle. This
module owns HOW: batches drawn with the estimator's generator from tensors kept on
the training device for the whole fit, one Adam optimiser per group, gradient
clipping, validation and the best weights, the NaN guard, Ctrl-C, callbacks and
``history_``.

Each loss in ``Losses.terms`` updates only its own group: gradients are taken with
respect to that group's parameters alone, all of them before any optimiser steps, so
one network's update never leaks into another's.

In a ``torch.distributed`` process group the losses are computed under
:class:`~torch.nn.parallel.DistributedDataParallel` (the forward of one module
holding the networks), so the backward passes leave every process the gradient
averaged over the processes; DDP's all-reduce completes with the last group's pass,
and clipping and the optimiser steps come after it.
"""

from __future__ import annotations

import inspect
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ._validation import Interval
from .base import GenerativeModel, torch_generator
from .callbacks import Callback, EarlyStopping, ProgressBar
from .chunks import chunk_source
from .distributed import (
    all_reduce_sum,
    all_true,
    broadcast_module,
    in_process_group,
    is_distributed,
    smallest,
    world_size,
)
from .distributed import rank as distributed_rank
from .exceptions import HybridgenWarning, InvalidParameterError, NumericalError

__all__ = ["Losses", "NeuralGenerativeModel", "TrainingState", "train"]


@dataclass
class Losses:
    """What a model's step returns.

    Attributes
    ----------
    terms : dict of str to scalar tensor
        For each parameter group, the loss that group minimises. In a
        ``torch.distributed`` process group (DistributedDataParallel) every group needs
        its loss at every training step, and each of its parameters a gradient.
    metrics : dict of str to scalar tensor
        Detached values averaged over the epoch into ``history_`` (e.g. "kl").
    objective : scalar tensor
        The model's training objective (for a VAE the negative ELBO), recorded as
        ``train_loss``/``valid_loss`` and used for early stopping.
    """

    terms: dict[str, torch.Tensor]
    objective: torch.Tensor
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class TrainingState:
    """What callbacks see."""

    model: Any
    epochs: int
    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    stop: bool = False


def batches(
    n: int, batch_size: int, generator: torch.Generator, device: torch.device
) -> Iterator[torch.Tensor]:
    """Row indices of one epoch: a permutation drawn with ``generator``, in batches."""
    order = torch.randperm(n, generator=generator, device=device)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def split_validation(
    tensors: Sequence[torch.Tensor], fraction: float, generator: torch.Generator
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...] | None]:
    """Split rows into train and validation parts (``fraction`` of rows, at least one)."""
    n = len(tensors[0])
    n_valid = int(round(fraction * n))
    if fraction <= 0 or n_valid < 1 or n - n_valid < 1:
        return tuple(tensors), None
    order = torch.randperm(n, generator=generator, device=tensors[0].device)
    valid, fit = order[:n_valid], order[n_valid:]
    return tuple(t[fit] for t in tensors), tuple(t[valid] for t in tensors)


def _apply_gradients(
    losses: Losses,
    groups: dict[str, list[nn.Parameter]],
    optimizers: dict[str, torch.optim.Optimizer],
    clip: float | None,
) -> None:
    """Gradient of each group's own loss w.r.t. that group only, then each group is
    clipped and steps.

    Each group has its own backward pass, restricted to its parameters (``inputs``).
    Under DistributedDataParallel the gradients are the mean over the processes once
    the last pass has run, which is why clipping and stepping wait for all of them.
    """
    names = [name for name in groups if name in losses.terms]
    for i, name in enumerate(names):
        for p in groups[name]:
            p.grad = None
        losses.terms[name].backward(inputs=groups[name], retain_graph=i < len(names) - 1)
    for name in names:
        if clip is not None:
            nn.utils.clip_grad_norm_(groups[name], clip)
        optimizers[name].step()


class _LossModule(nn.Module):
    """A model's losses as the forward of one module holding its networks: the form
    DistributedDataParallel wraps (its forward prepares the all-reduce of the
    gradients that the backward passes then make)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.net = model.module_
        self.estimator = model  # not a module: its networks are ``net``

    def forward(
        self, part: tuple[torch.Tensor, ...], generator: torch.Generator
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, dict[str, torch.Tensor]]:
        losses = self.estimator._losses(part, generator)
        return losses.terms, losses.objective, losses.metrics  # tensors DDP can find


def _data_parallel(model: Any) -> Callable[[tuple[torch.Tensor, ...], torch.Generator], Losses]:
    """``model._losses`` computed under DistributedDataParallel, on the device of its
    networks.

    Every parameter must receive a gradient at every step (DDP's default, without the
    graph search of ``find_unused_parameters``): a model returns a loss for each of its
    groups at every training step. Buffers are not broadcast before each forward: they
    are constant index tables, or a spectral norm's power-iteration vector, which
    follows the weights (equal on every process) through the same number of forwards
    on every process.
    """
    device = next(model.module_.parameters()).device
    # torch 2.13 renamed broadcast_buffers (now deprecated) to forward_sync_buffers
    renamed = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
    no_buffer_sync: dict[str, Any] = {
        "forward_sync_buffers" if renamed else "broadcast_buffers": False
    }
    if device.type != "cuda" and torch.distributed.get_backend() == "nccl":
        raise InvalidParameterError(
            f"The 'device' parameter of {type(model).__name__} put the networks on "
            f"{device.type!r}, but the process group's backend is 'nccl', which only "
            "moves CUDA tensors. Fit with device='cuda' (or 'auto'), or start the group "
            "with init_process_group('gloo')."
        )
    wrapped = DistributedDataParallel(
        _LossModule(model),
        device_ids=[device] if device.type == "cuda" else None,
        **no_buffer_sync,
    )

    def losses(part: tuple[torch.Tensor, ...], generator: torch.Generator) -> Losses:
        terms, objective, metrics = wrapped(part, generator)
        return Losses(terms=terms, objective=objective, metrics=metrics)

    return losses


@torch.no_grad()
def _evaluate(
    model: Any, tensors: tuple[torch.Tensor, ...], batch_size: int, generator: torch.Generator
) -> float:
    """Mean objective over ``tensors`` (no gradients, model in eval mode)."""
    model.module_.eval()
    total = torch.zeros((), device=tensors[0].device)
    for start in range(0, len(tensors[0]), batch_size):
        part = tuple(t[start : start + batch_size] for t in tensors)
        total += model._validation_objective(part, generator).detach() * len(part[0])
    model.module_.train()
    summed, rows = _over_processes({"total": total}, len(tensors[0]))
    return float(summed["total"]) / rows


def _over_processes(
    sums: dict[str, torch.Tensor], rows: int
) -> tuple[dict[str, torch.Tensor], int]:
    """Row-weighted sums and the row count, summed over the processes of a group."""
    if not is_distributed():
        return sums, rows
    *values, total = all_reduce_sum([*sums.values(), torch.tensor(float(rows))])
    return dict(zip(sums, values, strict=True)), int(total)


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _run_epoch(
    model: Any,
    data: tuple[torch.Tensor, ...],
    optimizers: dict[str, Any],
    settings: dict[str, Any],
    generator: torch.Generator,
    state: TrainingState,
    callbacks: Sequence[Callback],
) -> tuple[dict[str, torch.Tensor], int]:
    """One pass over ``data`` (``settings["steps"]`` batches, when set); returns
    row-weighted sums of the objective and metrics, and the number of rows."""
    groups = model._parameter_groups()
    sums: dict[str, torch.Tensor] = {}
    rows = 0
    data_parallel = settings["data_parallel"]
    for part in _epoch_batches(settings["batches"], settings["steps"], generator):
        rows += len(part[0])
        losses = (data_parallel or model._losses)(part, generator)
        _apply_gradients(losses, groups, optimizers, settings["clip_grad_norm"])
        for key, value in {"train_loss": losses.objective, **losses.metrics}.items():
            weighted = value.detach() * len(part[0])
            sums[key] = sums[key] + weighted if key in sums else weighted
        for cb in callbacks:
            cb.on_batch_end(state)
    return sums, rows


def _epoch_batches(
    source: Callable[[torch.Generator], Iterator[tuple[torch.Tensor, ...]]],
    steps: int | None,
    generator: torch.Generator,
) -> Iterator[tuple[torch.Tensor, ...]]:
    """One epoch of ``source``; exactly ``steps`` batches when given (cut short, or
    continued with a fresh epoch of the source), so that the processes of a group
    make the same number of steps whatever their shards and batch sources."""
    if steps is None:
        yield from source(generator)
        return
    done = 0
    while done < steps:
        before = done
        for part in islice(source(generator), steps - done):
            yield part
            done += 1
        if done == before:  # an empty source cannot make up the steps
            return


def train(
    model: Any,
    data: tuple[torch.Tensor, ...],
    valid: tuple[torch.Tensor, ...] | None,
    settings: dict[str, Any],
    callbacks: Sequence[Callback],
    generator: torch.Generator,
) -> bool:
    """Train ``model.module_`` in place; records go to ``model.history_``. Returns
    False when Ctrl-C stopped the training, True otherwise.

    ``model`` provides ``module_``, ``_parameter_groups()``, ``_optimizer_options()``,
    ``_batch_source(data, batch_size)``, ``_losses(tensors, generator) -> Losses`` and
    ``_validation_objective(tensors, generator)``. On exit the module holds the best
    weights seen: lowest validation objective, or, without validation data, lowest
    training objective when ``model._best_by_train_loss`` (else the last epoch's). A
    non-finite loss restores the last good weights and raises :class:`NumericalError`;
    Ctrl-C restores the best weights and warns.
    """
    groups, options = model._parameter_groups(), model._optimizer_options()
    optimizers = {
        name: torch.optim.Adam(params, weight_decay=settings["weight_decay"], **options[name])
        for name, params in groups.items()
    }
    steps = None
    if is_distributed():
        # batch_size is the batch of a step over all processes, each drawing its share,
        # so a step means the same on any number of processes; processes step together,
        # each as many times per epoch as the smallest shard allows
        share = math.ceil(settings["batch_size"] / world_size())
        settings = {**settings, "batch_size": share}
        steps = smallest(math.ceil(len(data[0]) / share))
    settings = {
        **settings,
        "batches": model._batch_source(data, settings["batch_size"]),
        "steps": steps,
        "data_parallel": _data_parallel(model) if in_process_group() else None,
    }
    latest_only = valid is None and not model._best_by_train_loss
    state = TrainingState(model=model, epochs=settings["epochs"], history=model.history_)
    best = (math.inf, _snapshot(model.module_))
    for cb in callbacks:
        cb.on_train_begin(state)
    finished = True
    try:
        for epoch in range(1, settings["epochs"] + 1):
            state.epoch = epoch
            last_good = _snapshot(model.module_)
            for cb in callbacks:
                cb.on_epoch_begin(state)
            start = time.perf_counter()
            sums, rows = _over_processes(
                *_run_epoch(model, data, optimizers, settings, generator, state, callbacks)
            )
            record = {"epoch": float(epoch), **{k: float(v) / rows for k, v in sums.items()}}
            # checked once per epoch, not per batch, to avoid a device sync every step
            if not all(math.isfinite(v) for v in record.values()):
                model.module_.load_state_dict(last_good)
                raise NumericalError(
                    f"The training loss of {type(model).__name__} became non-finite at epoch "
                    f"{epoch}; the weights of epoch {epoch - 1} were kept. Try a lower "
                    "learning_rate, set clip_grad_norm, or scale extreme numeric columns."
                )
            if valid is not None:
                record["valid_loss"] = _evaluate(model, valid, settings["batch_size"], generator)
            record["seconds"] = time.perf_counter() - start
            state.history.append(record)
            monitored = record.get("valid_loss", record["train_loss"])
            if monitored < best[0] or latest_only:
                best = (monitored, _snapshot(model.module_))
            for cb in callbacks:
                cb.on_epoch_end(state)
            if state.stop:
                break
    except KeyboardInterrupt:
        finished = False
        warnings.warn(
            f"Training of {type(model).__name__} was interrupted at epoch {state.epoch}; the "
            "best weights so far are kept and the model is usable.",
            HybridgenWarning,
            stacklevel=2,
        )
    finally:
        for cb in callbacks:
            cb.on_train_end(state)
    if math.isfinite(best[0]):
        model.module_.load_state_dict(best[1])
    return finished


@contextmanager
def flush_denormals() -> Iterator[None]:
    """Treat subnormal floats as zero on the CPU for the duration, then restore the
    caller's setting.

    Adam's second-moment estimates of rarely-used weights decay into subnormal numbers,
    which the CPU handles up to a hundred times slower: without this an Adult fit slows
    down threefold over 300 epochs.
    """
    probe = torch.tensor([1e-39], dtype=torch.float32)
    was_on = bool((probe * 1.0).item() == 0.0)
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(was_on)


class NeuralGenerativeModel(GenerativeModel):
    """Fit skeleton shared by the neural estimators (VAE, VAEGAN).

    ``fit`` is: fit the data layer, the labels and the conditions
    (``_fit_conditions``, condition vectors for a conditional decoder), ``_prepare(Z)``
    (data-dependent choices), build the networks (``_build_module()``, weights drawn
    from ``random_state``), move the encoded rows and condition vectors to the device
    once (``_tensors(Z, conditions)``), and :func:`train`. Subclasses
    implement those hooks, ``_parameter_groups()``, ``_losses(tensors, generator)``
    (and ``_optimizer_options()`` for several groups, ``_batch_source`` for batches
    other than a uniform permutation) and the inference hooks of
    :class:`~hybridgen.base.GenerativeModel`.
    """

    #: without validation data, keep the epoch of lowest training objective (a
    #: likelihood model) rather than the last one (an adversarial model, whose
    #: objective does not measure what the adversary improves)
    _best_by_train_loss: bool = True

    _training_constraints: dict[str, list[Any]] = {
        "epochs": [Interval(Integral, 1, None, "left")],
        "batch_size": [Interval(Integral, 1, None, "left")],
        "learning_rate": [Interval(Real, 0.0, None, "neither")],
        "weight_decay": [Interval(Real, 0.0, None, "left")],
        "clip_grad_norm": [Interval(Real, 0.0, None, "neither"), None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0.0, 1.0, "neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, "left")],
        "callbacks": [list, tuple, None],
        "verbose": [Interval(Integral, 0, None, "left"), "boolean"],
        "random_state": ["random_state"],
        "device": [str, torch.device],
    }

    def fit(self, X: Any, y: Any = None) -> NeuralGenerativeModel:
        """Fit the networks to ``X``.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_features), or images of shape
            (n_samples, H, W) or (n_samples, C, H, W)
            A :class:`~hybridgen.chunks.Chunks` or a file path is read into memory.
        y : array-like of shape (n_samples,), default=None
            Images: class labels; the decoder then learns p(x | y) and ``sample`` takes
            a class as ``conditions``. Tables and arrays: ignored (name label columns in
            ``condition_columns`` instead).

        Returns
        -------
        self
        """
        self._validate_params()
        chunks = chunk_source(X)
        if chunks is not None:  # the networks train on rows in memory
            X = chunks.read_all()
        Z = self._fit_transformer(X)
        device = self._device()
        rng = self._rng()
        conditions = self._fit_conditions(X, self._fit_labels(X, y), rng)
        self._prepare(Z)
        self.module_ = self._seeded_module(rng).to(device)
        generator = torch_generator(rng, device)
        if is_distributed():  # each process draws its own batches
            generator.manual_seed(generator.initial_seed() + distributed_rank())
        fraction = self.validation_fraction if self.early_stopping else 0.0
        data, valid = split_validation(self._tensors(Z, conditions), fraction, generator)
        if is_distributed() and not all_true(valid is not None):
            # a shard too small to hold out a row: no process validates, so all monitor
            # the same objective and stop at the same epoch
            if valid is not None:
                data = tuple(torch.cat([d, v]) for d, v in zip(data, valid, strict=True))
            valid = None
        self.history_: list[dict[str, float]] = []
        callbacks = self._callbacks(has_validation=valid is not None)
        with flush_denormals():
            finished = train(self, data, valid, self._settings(), callbacks, generator)
        if is_distributed() and finished:  # every process holds the networks rank 0
            # saves (after Ctrl-C the processes stopped at different points: no collective)
            broadcast_module(self.module_)
        self.module_.eval()
        self.n_epochs_ = len(self.history_)
        return self

    def _prepare(self, Z: np.ndarray) -> None:
        """Resolve data-dependent choices before the networks are built (default: none)."""

    def _fit_conditions(
        self, X: Any, labels: np.ndarray | None, rng: np.random.RandomState
    ) -> np.ndarray | None:
        """Condition vectors of the training rows, (n_samples, width), or None for an
        unconditional model (the default)."""
        return None

    def _settings(self) -> dict[str, Any]:
        return {
            "epochs": int(self.epochs),
            "batch_size": int(self.batch_size),
            "weight_decay": float(self.weight_decay),
            "clip_grad_norm": None if self.clip_grad_norm is None else float(self.clip_grad_norm),
        }

    def _callbacks(self, has_validation: bool) -> list[Callback]:
        callbacks = list(self.callbacks or [])
        if has_validation:
            callbacks.append(EarlyStopping(patience=int(self.n_iter_no_change)))
        if self.verbose:
            callbacks.append(ProgressBar())
        return callbacks

    def _seeded_module(self, rng: np.random.RandomState) -> nn.Module:
        """Build the networks with weights drawn from ``rng``, leaving global RNG untouched."""
        with torch.random.fork_rng(devices=[]):
            # the CPU generator only: torch.manual_seed would also reseed every CUDA one
            torch.default_generator.manual_seed(int(rng.randint(0, 2**31 - 1)))
            return self._build_module()

    def _optimizer_options(self) -> dict[str, dict[str, Any]]:
        """Adam's keyword arguments for each parameter group."""
        return {name: {"lr": float(self.learning_rate)} for name in self._parameter_groups()}

    def _batch_source(
        self, data: tuple[torch.Tensor, ...], batch_size: int
    ) -> Callable[[torch.Generator], Iterator[tuple[torch.Tensor, ...]]]:
        """One epoch's batches of ``data``: a uniform permutation drawn with the generator."""

        def epoch(generator: torch.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
            for index in batches(len(data[0]), batch_size, generator, data[0].device):
                yield tuple(t[index] for t in data)

        return epoch

    def _validation_objective(
        self, tensors: tuple[torch.Tensor, ...], generator: torch.Generator
    ) -> torch.Tensor:
        """The objective monitored on validation rows (default: the training objective)."""
        return self._losses(tensors, generator).objective

    # -- persistence: weights as tensors, networks rebuilt from params and layout -------
    def _params_to_save(self) -> dict[str, Any]:
        # callbacks are the caller's objects (files, loggers): not part of a saved model
        return {**super()._params_to_save(), "callbacks": None}

    def _fitted_state(self) -> dict[str, Any]:
        state = super()._fitted_state()
        module = state.pop("module_")
        state["module_"] = {k: v.detach().cpu() for k, v in module.state_dict().items()}
        return state

    def _restore_fitted_state(self, state: dict[str, Any]) -> None:
        weights = state.pop("module_")
        super()._restore_fitted_state(state)
        with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten
            module = self._build_module()
        module.load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()})
        self.module_ = module.to(self._device()).eval()
