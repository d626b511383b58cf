"""The distributed layer of the trainer: one object the loop holds, a no-op in one process.

Under `torchrun --nproc_per_node=N` every process runs the same loop; this module is all that
differs. It reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT),
joins the process group (gloo on CPU, nccl on CUDA, one GPU per process: cuda:LOCAL_RANK), wraps
the model in DistributedDataParallel, and gives the loop the few collectives it needs: the
skip-on-NaN decision (`all_ok`), metric sums (`reduce_sums`), rank 0's decisions (`broadcast`),
`barrier` around rank 0's writes, and `guard`, which turns a lost peer into a one-line
TrainingError. Started without WORLD_SIZE (or with WORLD_SIZE=1), every method is trivial and
torch.distributed is never called.

Batch size: train.batch_size is the GLOBAL batch, the examples one optimizer step sees summed over
all processes; each process computes on batch_size / world_size of them (pythae calls its
per-process figure per_device_train_batch_size). Sharding: every process draws the same permutation
from the same seeded generator (so the order reshuffles each epoch exactly as in one process), cuts
the same global batches a single process would, and keeps its contiguous slice of each
(`shard`). DDP averages the processes' gradients, so when the loss is a batch mean the step equals
the single-process step on the whole global batch. Training must enter through `forward`: DDP
only reduces gradients of a backward that follows a call of the wrapped module.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from vaekit.errors import ConfigError, TrainingError

T = TypeVar("T")

# Long enough for rank 0 to download a data set or compile while the others wait at a barrier;
# a crashed peer is noticed at once on gloo (its socket closes), so this bounds only a hung one.
DEFAULT_TIMEOUT_S = 1800.0

# What a failed collective says: gloo's "Connection closed by peer", "Timed out waiting ...",
# "Application timeout caused pair closure"; nccl's watchdog and c10d's store errors.
_COMM_WORDS = re.compile(r"gloo|nccl|c10d|connection (closed|reset|refused)|timed out|timeout|pair closure|"
                         r"broken pipe|process ?group", re.I)


class Distributed:
    """Where this process stands among the training processes, and the collectives the loop uses.

    Build it with `Distributed.from_env(device)`; `Distributed()` is the single-process no-op.
    """

    def __init__(self, device: torch.device | str = "cpu", *, rank: int = 0, world_size: int = 1,
                 local_rank: int = 0, local_world_size: int | None = None, owns_group: bool = False) -> None:
        self.device = torch.device(device)
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.local_world_size = local_world_size or world_size
        self._owns_group = owns_group  # False when someone else initialised torch.distributed
        self._closed = False

    # ------------------------------------------------------------------ joining

    @classmethod
    def from_env(cls, device: torch.device | str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> "Distributed":
        """The layer torchrun's environment asks for: the no-op without WORLD_SIZE (or with 1),
        else this process joined to the group (gloo for a CPU `device`, nccl for 'cuda', which
        becomes cuda:LOCAL_RANK). `timeout_s` bounds every collective. ConfigError on a bad
        variable or device."""
        env = os.environ
        world = _env_int(env, "WORLD_SIZE", 1, low=1)
        if world == 1:
            if "RANK" in env:
                _env_int(env, "RANK", 0, low=0, high=0)
            return cls(device)
        rank = _env_int(env, "RANK", None, low=0, high=world - 1)
        local_rank = _env_int(env, "LOCAL_RANK", 0, low=0)
        local_world = _env_int(env, "LOCAL_WORLD_SIZE", world, low=1)
        for name in ("MASTER_ADDR", "MASTER_PORT"):
            if not env.get(name, "").strip():
                raise ConfigError(f"environment variable {name} is not set, but WORLD_SIZE is {world}; "
                                  f"start distributed training with torchrun, which sets it")
        _env_int(env, "MASTER_PORT", None, low=1, high=65535)
        if not isinstance(timeout_s, (int, float)) or not 0 < timeout_s < float("inf"):
            raise ConfigError(f"the distributed timeout must be a positive number of seconds, got {timeout_s!r}")
        device, backend = _process_device(torch.device(device), local_rank)
        owns = not dist.is_initialized()
        if owns:
            # env://, not tcp://: under torchrun the agent already serves the store at MASTER_PORT
            # (TORCHELASTIC_USE_AGENT_STORE), and env:// joins it instead of binding the port again.
            try:
                dist.init_process_group(backend, rank=rank, world_size=world, init_method="env://",
                                        timeout=datetime.timedelta(seconds=timeout_s))
            except RuntimeError as e:  # a busy port, peers that never came (DistStoreError after timeout_s)
                where = f"{env['MASTER_ADDR']}:{env['MASTER_PORT']}"
                raise TrainingError(
                    f"rank {rank} could not join the {world} training processes at {where} ({_short_cause(e)}); "
                    f"start every process (torchrun --nproc_per_node=N starts N), with a free MASTER_PORT") from None
        elif (dist.get_rank(), dist.get_world_size()) != (rank, world):
            raise ConfigError(f"torch.distributed is already initialised as rank {dist.get_rank()} of "
                              f"{dist.get_world_size()}, but RANK/WORLD_SIZE say {rank} of {world}")
        return cls(device, rank=rank, world_size=world, local_rank=local_rank, local_world_size=local_world,
                   owns_group=owns)

    @property
    def enabled(self) -> bool:
        """Whether there is more than one training process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the one process that writes the run directory and logs."""
        return self.rank == 0

    # ------------------------------------------------------------------ the model

    def wrap(self, model: nn.Module, *, find_unused_parameters: bool = False) -> nn.Module:
        """`model` in DistributedDataParallel (which copies rank 0's weights and buffers to every
        process now, and averages gradients in each backward after a forward), or `model` itself
        in one process. Set `find_unused_parameters` for a model whose forward leaves some
        parameters out of the loss."""
        if not self.enabled:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids,
                                                   find_unused_parameters=find_unused_parameters)

    @staticmethod
    def unwrap(model: nn.Module) -> nn.Module:
        """The module inside DDP and torch.compile wrappers, whose state_dict keys have no
        'module.' or '_orig_mod.' prefix: the one to save and evaluate."""
        while True:
            if isinstance(model, nn.parallel.DistributedDataParallel):
                model = model.module
            elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):  # torch.compile
                model = model._orig_mod
            else:
                return model

    # ------------------------------------------------------------------ the data

    def split_batch(self, global_batch_size: int) -> int:
        """The per-process batch size of train.batch_size `global_batch_size` (the global batch);
        ConfigError when it does not divide evenly over the processes."""
        if global_batch_size % self.world_size:
            raise ConfigError(
                f"train.batch_size {global_batch_size} does not divide evenly over {self.world_size} training "
                f"processes; train.batch_size is the global batch, so use a multiple of {self.world_size}")
        return global_batch_size // self.world_size

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This process's contiguous slice (along dim 0) of a global batch: of its indices, or of
        its examples after anything drawn from the shared generator (dynamic binarization), so
        that every process's generator stays in step. In one process, `batch` itself."""
        if not self.enabled:
            return batch
        n = len(batch)
        if n % self.world_size:
            raise ConfigError(
                f"a batch of {n} examples does not split evenly over {self.world_size} training processes; "
                f"make train.batch_size (and the training split, when it is smaller) a multiple of {self.world_size}")
        per = n // self.world_size
        return batch[self.rank * per : (self.rank + 1) * per]

    # ------------------------------------------------------------------ collectives

    def all_ok(self, flag: bool | torch.Tensor) -> bool:
        """True only when `flag` is true in every process: the skip-on-NaN decision, so that a
        step one process cannot take is skipped by all and the weights never drift apart."""
        ok = bool(flag)
        if not self.enabled:
            return ok
        t = torch.tensor([int(ok)], dtype=torch.int32, device=self._comm_device)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return bool(t.item())

    def reduce_sums(self, sums: Mapping[str, torch.Tensor | float]) -> dict[str, float]:
        """`sums` added up over all processes (metric sums and example counts; divide after), as
        floats. Every process must pass the same keys; call it once per epoch, not per step."""
        if not self.enabled:
            return {k: float(v) for k, v in sums.items()}
        keys = sorted(sums)
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, keys)
        if any(g != keys for g in gathered):
            # The loop's bug, not the user's: the processes disagree about what they measured.
            raise RuntimeError(f"reduce_sums got different keys in different processes: {gathered}")
        values = [torch.as_tensor(sums[k]).detach().to(self._comm_device, torch.float64).reshape(()) for k in keys]
        t = torch.stack(values) if values else torch.zeros(0, dtype=torch.float64, device=self._comm_device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return {k: float(v) for k, v in zip(keys, t.tolist())}

    def mean(self, value: torch.Tensor | float) -> float:
        """The mean of `value` over the processes, as a float: a loss measured on each process's
        equal share of a global batch (aggressive training's stopping rule), decided alike by all."""
        if not self.enabled:
            return float(value)
        t = torch.as_tensor(value).detach().to(self._comm_device, torch.float64).reshape(1)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return float(t.item()) / self.world_size

    def broadcast(self, obj: T) -> T:
        """Rank 0's `obj` (a picklable value: a stop decision, an epoch record) in every process."""
        if not self.enabled:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0, device=self._comm_device)
        return box[0]

    def barrier(self) -> None:
        """Wait until every process gets here (around rank 0's writes to the run directory)."""
        if not self.enabled:
            return
        if self.device.type == "cuda":
            dist.barrier(device_ids=[self.device.index])
        else:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group (once; later calls do nothing). A group this object did not
        create is left as it is."""
        if self._closed:
            return
        self._closed = True
        if self.enabled and self._owns_group and dist.is_initialized():
            # The loop's DDP wrapper sits in a reference cycle, so it outlives the loop until a
            # garbage collection. Left to the interpreter's exit, its reducer frees gloo's pending
            # work with the interpreter half torn down, which aborts the process now and then
            # ("terminate called without an active exception" after a complete run). Collect it
            # here, while the group and the interpreter are whole, then leave the group.
            gc.collect()
            dist.destroy_process_group()

    @contextlib.contextmanager
    def guard(self, run_dir: str | Path, resumable: bool | Callable[[], bool] = True) -> Iterator[None]:
        """Turn a collective that fails inside the block because another process died or hung
        (gloo's 'Connection closed by peer', a timeout) into a one-line TrainingError saying what
        is kept and how to go on. `resumable` (or its value when called, at the failure) says
        whether `run_dir` holds a checkpoint yet. Any other error passes through unchanged."""
        try:
            yield
        except RuntimeError as e:  # torch.distributed.DistError is a RuntimeError too
            if not self.enabled or not _is_comm_failure(e):
                raise
            has_checkpoint = resumable() if callable(resumable) else resumable
            raise TrainingError(self.lost_peer_message(run_dir, e, has_checkpoint)) from None

    def lost_peer_message(self, run_dir: str | Path, cause: BaseException, resumable: bool = True) -> str:
        """The one line for a collective that failed with `cause`."""
        torchrun = f"torchrun --nproc_per_node={self.local_world_size} -m vaekit train"
        then = (f"the last checkpoint in {run_dir} is kept; resume with `{torchrun} --resume {run_dir}`" if resumable
                else f"no epoch finished, so {run_dir} holds no checkpoint yet; start the training again with "
                     f"`{torchrun} CONFIG --out {run_dir} --overwrite`")
        return (f"training stopped: another training process stopped or stopped answering "
                f"(seen by rank {self.rank} of {self.world_size}: {_short_cause(cause)}); check the other "
                f"processes' output for why; {then}")

    @property
    def _comm_device(self) -> torch.device:
        # nccl moves CUDA tensors only; gloo, CPU ones.
        return self.device if self.device.type == "cuda" else torch.device("cpu")

    def __repr__(self) -> str:
        return f"Distributed(rank={self.rank}, world_size={self.world_size}, device={self.device})"


def _env_int(env: Mapping[str, str], name: str, default: int | None, *, low: int, high: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        if default is None:
            raise ConfigError(f"environment variable {name} is not set, but WORLD_SIZE is {env.get('WORLD_SIZE')}; "
                              f"start distributed training with torchrun, which sets it")
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"environment variable {name} is {raw!r}, not a whole number; "
                          f"unset it, or start distributed training with torchrun, which sets it") from None
    if value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"environment variable {name} is {value}; it must be {span}"
                          + (" (below WORLD_SIZE)" if name == "RANK" else ""))
    return value


def _process_device(device: torch.device, local_rank: int) -> tuple[torch.device, str]:
    """This process's device and the backend for it: gloo on CPU, nccl on cuda:LOCAL_RANK."""
    if device.type == "cpu":
        return device, "gloo"
    if device.type != "cuda":
        raise ConfigError(f"distributed training runs on cpu (gloo) or cuda (nccl), not on train.device "
                          f"'{device}'; set train.device to cpu or cuda")
    if device.index is not None:
        raise ConfigError(f"train.device is '{device}', but under torchrun each process takes the GPU of its "
                          f"LOCAL_RANK; set train.device to cuda (or auto), and choose GPUs with CUDA_VISIBLE_DEVICES")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if local_rank >= count:
        raise ConfigError(f"LOCAL_RANK is {local_rank}, but {count} CUDA device(s) are visible; start at most "
                          f"{count} processes per machine (torchrun --nproc_per_node={max(count, 1)}) or use cpu")
    device = torch.device("cuda", local_rank)
    torch.cuda.set_device(device)  # nccl's collectives and barrier() act on the current device
    return device, "nccl"


def _is_comm_failure(e: BaseException) -> bool:
    dist_error = getattr(dist, "DistError", None)
    return (dist_error is not None and isinstance(e, dist_error)) or bool(_COMM_WORDS.search(str(e)))


def _short_cause(e: BaseException) -> str:
    """A torch.distributed error's first line without its source-file prefix and gloo's advice:
    'Connection closed by peer [127.0.0.1]:1234'."""
    lines = str(e).strip().splitlines()
    text = re.sub(r"^\[[^\]]*\.(cc|cpp|h):\d+\]\s*", "", lines[0] if lines else "")
    kept = [p for p in text.split(". ") if not p.startswith(("This is typically", "Check the logs", "GLHF"))]
    return ". ".join(kept).rstrip(". ")[:300] or type(e).__name__
