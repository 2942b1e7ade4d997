"""Side concerns of training as callbacks: each hook is a no-op unless overridden.

A callback receives the :class:`~hybridgen.training.TrainingState` at each hook and
may set ``state.stop = True`` to end training after the current epoch.
"""

from __future__ import annotations

import logging
import math
from os import PathLike
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from .distributed import rank
from .exceptions import InvalidParameterError

if TYPE_CHECKING:  # pragma: no cover
    from .training import TrainingState

__all__ = ["Callback", "Checkpoint", "EarlyStopping", "ProgressBar"]

logger = logging.getLogger(__name__)


class Callback:
    """Base class: override any of the hooks."""

    def on_train_begin(self, state: TrainingState) -> None:
        """Before the first epoch."""

    def on_epoch_begin(self, state: TrainingState) -> None:
        """Before each epoch."""

    def on_batch_end(self, state: TrainingState) -> None:
        """After each optimisation step."""

    def on_epoch_end(self, state: TrainingState) -> None:
        """After each epoch; ``state.history[-1]`` holds its record."""

    def on_train_end(self, state: TrainingState) -> None:
        """After the last epoch (also after an interruption)."""


def monitored_value(record: dict[str, float], monitor: str, owner: str) -> float:
    """The value a callback watches in one epoch record; ``"auto"`` is ``valid_loss`` with
    validation data, else ``train_loss``. A key the records lack is an error, never a
    silent NaN."""
    key = monitor
    if monitor == "auto":
        key = "valid_loss" if "valid_loss" in record else "train_loss"
    if key not in record:
        hint = " ('valid_loss' needs early_stopping=True.)" if key == "valid_loss" else ""
        raise InvalidParameterError(
            f"{owner} monitors {key!r}, which the epoch records do not have; they have "
            f"{', '.join(sorted(record))}.{hint}"
        )
    return float(record[key])


class EarlyStopping(Callback):
    """Stop when the monitored objective has not improved by ``min_delta`` for
    ``patience`` epochs. The trainer restores the best weights at the end.

    Parameters
    ----------
    patience : int, default=10
    min_delta : float, default=0.0
    monitor : str, default="auto"
        Key of the epoch record to minimise; ``"auto"`` is ``"valid_loss"`` when the
        estimator holds out validation data (``early_stopping=True``), else
        ``"train_loss"``.
    """

    def __init__(self, patience: int = 10, min_delta: float = 0.0, monitor: str = "auto"):
        self.patience = patience
        self.min_delta = min_delta
        self.monitor = monitor

    def on_train_begin(self, state: TrainingState) -> None:
        self.best_ = math.inf
        self.waited_ = 0

    def on_epoch_end(self, state: TrainingState) -> None:
        value = monitored_value(state.history[-1], self.monitor, "EarlyStopping")
        if value < self.best_ - self.min_delta:
            self.best_, self.waited_ = value, 0
            return
        self.waited_ += 1
        if self.waited_ >= self.patience:
            logger.info("early stopping at epoch %d (%s=%.5g)", state.epoch, self.monitor, value)
            state.stop = True


class ProgressBar(Callback):
    """A tqdm bar over epochs showing the latest losses (added when ``verbose``)."""

    def on_train_begin(self, state: TrainingState) -> None:
        self.bar_ = tqdm(
            total=state.epochs,
            desc=type(state.model).__name__,
            unit="epoch",
            disable=rank() != 0,  # one bar for a process group: rank 0's
        )

    def on_epoch_end(self, state: TrainingState) -> None:
        record = state.history[-1]
        shown = {k: f"{v:.4g}" for k, v in record.items() if k.endswith("loss")}
        self.bar_.set_postfix(shown)
        self.bar_.update(1)

    def on_train_end(self, state: TrainingState) -> None:
        self.bar_.close()


class Checkpoint(Callback):
    """Save the estimator to ``path`` whenever the monitored objective improves.

    Parameters
    ----------
    path : str or path-like
    monitor : str, default="auto"
        As for :class:`EarlyStopping`.
    """

    def __init__(self, path: str | PathLike[str], monitor: str = "auto"):
        self.path = path
        self.monitor = monitor

    def on_train_begin(self, state: TrainingState) -> None:
        self.best_ = math.inf

    def on_epoch_end(self, state: TrainingState) -> None:
        value = monitored_value(state.history[-1], self.monitor, "Checkpoint")
        if value < self.best_:
            self.best_ = value
            state.model.save(self.path)
