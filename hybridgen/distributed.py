"""Training on several processes with ``torch.distributed``.

Start one process per CPU worker or GPU with ``torchrun``, call
:func:`init_process_group` at the top of the script, and give each process its own
shard of the rows: the estimators see the initialised process group and work
together. The columns are learnt from every shard's summary (the VAE's mode-specific
normalisation from a sample of at most 100,000 rows over all shards), and all
processes hold rank 0's data layer.

* ``GaussianMixture`` sums its EM statistics over the processes (an all-reduce), so
  the fit equals a single process's fit on all the rows.
* ``VAE`` and ``VAEGAN`` train under ``torch.nn.parallel.DistributedDataParallel``:
  they start from rank 0's weights and, at every step, each process computes the
  gradient of its share of the batch (``batch_size`` is the batch of a step over all
  processes) and all processes step with the mean gradient. Each network's gradient
  of its own loss has its own backward pass (the VAEGAN's three networks); DDP's
  all-reduce completes with the last of them, before any optimiser steps. Epoch
  records and early stopping use the objective over all processes, so every process
  stops at the same epoch. With ``condition_columns`` the prior over the condition
  columns is itself a ``GaussianMixture`` fitted over all processes, and each
  process draws training-by-sampling batches from its own shard.
* Images fitted with labels ``y`` take the classes of every shard.

Only rank 0 writes files (``save``) and progress bars. See ``docs/guide.md``,
"Scaling out".

The same code runs on CPU processes (the ``gloo`` backend) and on GPUs (``nccl``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.distributed as dist

__all__ = [
    "all_gather_objects",
    "broadcast_object",
    "init_process_group",
    "is_distributed",
    "rank",
    "world_size",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


def in_process_group() -> bool:
    """Whether this process belongs to a ``torch.distributed`` process group (of any size)."""
    return dist.is_available() and dist.is_initialized()


def is_distributed() -> bool:
    """Whether a ``torch.distributed`` process group of more than one process is running."""
    return in_process_group() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank in the process group (0 without one)."""
    return dist.get_rank() if in_process_group() else 0


def world_size() -> int:
    """The number of processes in the process group (1 without one)."""
    return dist.get_world_size() if in_process_group() else 1


def init_process_group(backend: str | None = None, **kwargs: Any) -> str:
    """Join the process group that ``torchrun`` describes in the environment.

    Parameters
    ----------
    backend : {"gloo", "nccl"} or None, default=None
        None picks ``nccl`` when CUDA is available and ``gloo`` otherwise. With
        ``nccl`` each process uses the GPU of its ``LOCAL_RANK``.
    **kwargs
        Passed to :func:`torch.distributed.init_process_group`.

    Returns
    -------
    backend : str
        The backend in use.
    """
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, **kwargs)
    logger.info("process %d of %d joined (%s)", rank(), world_size(), backend)
    return backend


def _collective_device(tensor: torch.Tensor) -> torch.device:
    """Where a tensor must be for the group's backend: CPU for gloo, the GPU for nccl."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """The element-wise sums over all processes of ``tensors`` (one collective call);
    each result is on its input's device and dtype."""
    flat = torch.cat([t.reshape(-1).to(torch.float64) for t in tensors])
    flat = flat.to(_collective_device(flat))
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    out, start = [], 0
    for t in tensors:
        part = flat[start : start + t.numel()].reshape(t.shape)
        out.append(part.to(device=t.device, dtype=t.dtype))
        start += t.numel()
    return out


def broadcast_tensors(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Rank 0's ``tensors`` on every process (each of the same shape everywhere), on each
    input's device and dtype."""
    out = []
    for tensor in tensors:  # a copy: the inputs are never written to
        buffer = tensor.detach().to(_collective_device(tensor), copy=True).contiguous()
        dist.broadcast(buffer, src=0)
        out.append(buffer.to(device=tensor.device, dtype=tensor.dtype))
    return out


def all_gather_objects(value: Any) -> list[Any]:
    """``value`` of every process, in rank order (pickled between the processes of one job)."""
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast_object(value: Any) -> Any:
    """Rank 0's ``value`` on every process."""
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Wait for every process (nothing without a process group)."""
    if is_distributed():
        dist.barrier()


def all_true(flag: bool) -> bool:
    """Whether ``flag`` holds on every process (``flag`` itself without a group)."""
    if not is_distributed():
        return flag
    (count,) = all_reduce_sum([torch.tensor(float(bool(flag)))])
    return int(count) == world_size()


def smallest(value: int) -> int:
    """The smallest ``value`` over the processes (``value`` itself without a group)."""
    if not is_distributed():
        return value
    box = torch.tensor([float(value)], dtype=torch.float64)
    box = box.to(_collective_device(box))
    dist.all_reduce(box, op=dist.ReduceOp.MIN)
    return int(box.item())


def on_every_process(compute: Callable[[], _T]) -> _T:
    """``compute()`` on this process; if it raised on any process of the group, every
    process raises (the failing one its own error), so none is left waiting in a
    collective."""
    from .exceptions import DataValidationError

    error: Exception | None = None
    result: Any = None
    try:
        result = compute()
    except Exception as exc:  # noqa: BLE001 - re-raised below, on every process
        error = exc
    if not all_true(error is None):
        raise error or DataValidationError(
            "Another process of the torch.distributed group failed (its error says why); "
            "this one stops with it."
        )
    return result  # type: ignore[no-any-return]


def broadcast_module(module: torch.nn.Module) -> None:
    """Give every process rank 0's weights and buffers (in place)."""
    state = module.state_dict()
    names = list(state)
    for name, tensor in zip(names, broadcast_tensors([state[n] for n in names]), strict=True):
        state[name].copy_(tensor)


def summed_array(values: Any) -> Any:
    """A numpy array summed element-wise over the processes (itself without a group)."""
    if not is_distributed():
        return values
    import numpy as np

    array = np.asarray(values)
    (total,) = all_reduce_sum([torch.as_tensor(array, dtype=torch.float64)])
    return total.numpy().astype(array.dtype)
