"""The distributed layer: a no-op in one process; with two gloo processes on CPU, collectives that
agree, shards that rebuild the single-process batches, DDP steps equal to single-process steps on
the same global batch, and a lost peer reported as one line.

The two-process tests start this file as a script twice, with the variables torchrun would set
(RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, ...), so `Distributed.from_env` joins the group the
way it does under torchrun. Each worker saves what it saw to DIR/rankR.pt; the test compares.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn

from vaekit.errors import ConfigError, TrainingError
from vaekit.train.distributed import Distributed

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
EPS = torch.finfo(torch.float32).eps


class Tiny(nn.Module):
    """A model whose forward returns per-example terms (B,), like vaekit's; `loss` is the batch
    mean computed without going through forward, the way the loop used to call models."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(5, 8)
        self.out = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.out(torch.tanh(self.hidden(x))).squeeze(1) - x.sum(1)) ** 2  # (B,)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        return ((self.out(torch.tanh(self.hidden(x))).squeeze(1) - x.sum(1)) ** 2).mean()


def tiny(seed: int) -> Tiny:
    torch.manual_seed(seed)
    return Tiny()


def data(n: int) -> torch.Tensor:
    return torch.randn(n, 5, generator=torch.Generator().manual_seed(11))


def global_batches(n: int, batch_size: int, epochs: int, seed: int) -> list[torch.Tensor]:
    """The index batches of a single process (as vaekit.train.batches cuts them): one permutation
    per epoch from one seeded generator, full batches only."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        out += [order[i : i + batch_size] for i in range(0, n - n % batch_size, batch_size)]
    return out


# ----------------------------------------------------------------------------- one process


def test_one_process_is_a_no_op_that_never_calls_torch_distributed(monkeypatch, tmp_path):
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)

    def refuse(*args, **kwargs):
        raise AssertionError("torch.distributed was called in a single process")

    for fn in ("init_process_group", "all_reduce", "all_gather_object", "broadcast_object_list", "barrier",
               "destroy_process_group"):
        monkeypatch.setattr(dist, fn, refuse)
    d = Distributed.from_env("cpu")
    assert (d.rank, d.world_size, d.is_main, d.enabled, d.device) == (0, 1, True, False, torch.device("cpu"))
    model = Tiny()
    assert d.wrap(model) is model and d.unwrap(model) is model
    assert d.split_batch(7) == 7
    batch = torch.arange(7)
    assert d.shard(batch) is batch
    assert d.all_ok(True) and not d.all_ok(False) and not d.all_ok(torch.tensor(False))
    assert d.reduce_sums({"loss": torch.tensor(2.5), "n": 3}) == {"loss": 2.5, "n": 3.0}
    record = {"epoch": 1}
    assert d.broadcast(record) is record
    d.barrier()
    with pytest.raises(RuntimeError, match="Connection closed by peer"):  # not turned into a TrainingError
        with d.guard(tmp_path):
            raise RuntimeError("Connection closed by peer")
    d.close()
    d.close()
    assert not dist.is_initialized()


def test_world_size_one_is_the_no_op(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    d = Distributed.from_env("cpu")
    assert not d.enabled and d.world_size == 1 and not dist.is_initialized()


def test_unwrap_removes_torch_compile_wrappers():
    model = Tiny()
    assert Distributed.unwrap(torch.compile(model)) is model


TWO = {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29555"}


@pytest.mark.parametrize("env, device, named", [
    ({"WORLD_SIZE": "two"}, "cpu", "WORLD_SIZE"),
    ({"WORLD_SIZE": "0"}, "cpu", "WORLD_SIZE"),
    ({"WORLD_SIZE": "1", "RANK": "1"}, "cpu", "RANK"),
    ({**TWO, "RANK": ""}, "cpu", "RANK"),
    ({**TWO, "RANK": "2"}, "cpu", "RANK"),
    ({**TWO, "RANK": "-1"}, "cpu", "RANK"),
    ({**TWO, "LOCAL_RANK": "x"}, "cpu", "LOCAL_RANK"),
    ({**TWO, "MASTER_ADDR": ""}, "cpu", "MASTER_ADDR"),
    ({**TWO, "MASTER_PORT": "http"}, "cpu", "MASTER_PORT"),
    ({**TWO, "MASTER_PORT": "70000"}, "cpu", "MASTER_PORT"),
    (TWO, "cuda:1", "LOCAL_RANK"),  # one GPU named for every process
    ({**TWO, "LOCAL_RANK": "99"}, "cuda", "LOCAL_RANK"),  # more processes than GPUs (none here)
    (TWO, "mps", "cpu or cuda"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_environment_or_device_is_a_one_line_config_error(monkeypatch, env, device, named):
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=named) as e:
        Distributed.from_env(device)
    assert "\n" not in str(e.value)
    assert not dist.is_initialized()


def test_timeout_must_be_finite(monkeypatch):
    for name, value in TWO.items():
        monkeypatch.setenv(name, value)
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ConfigError, match="timeout"):
            Distributed.from_env("cpu", timeout_s=bad)
    assert not dist.is_initialized()


def test_a_busy_port_or_a_missing_peer_is_a_one_line_training_error(monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setenv("MASTER_PORT", str(port))
        for name, value in {**TWO, "MASTER_PORT": str(port)}.items():
            monkeypatch.setenv(name, value)
        with pytest.raises(TrainingError, match=f"rank 0 could not join the 2 training processes at 127.0.0.1:{port}") as e:
            Distributed.from_env("cpu", timeout_s=5)
        assert "address already in use" in str(e.value) and "\n" not in str(e.value)
    monkeypatch.setenv("MASTER_PORT", str(free_port()))  # free, but rank 1 never comes
    t0 = time.monotonic()
    with pytest.raises(TrainingError, match="1/2 clients joined"):
        Distributed.from_env("cpu", timeout_s=1)
    assert time.monotonic() - t0 < 5
    assert not dist.is_initialized()


# ----------------------------------------------------------------------------- two processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(tmp_path: Path, scenario: str, *, world: int = 2, wait_s: float = 180.0,
           wait_for: tuple[int, ...] | None = None) -> list[subprocess.Popen]:
    """Run `scenario` in `world` processes as torchrun would start them; return them once the
    ranks `wait_for` (all by default) have finished, the others killed."""
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]), OMP_NUM_THREADS="1",
               WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    procs = []
    for rank in range(world):
        log = open(tmp_path / f"rank{rank}.log", "w")
        procs.append(subprocess.Popen([sys.executable, __file__, scenario, str(tmp_path)],
                                      env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)},
                                      stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path))
    deadline = time.monotonic() + wait_s
    try:
        for rank in wait_for if wait_for is not None else range(world):
            procs[rank].wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return procs


def results(tmp_path: Path, procs: list[subprocess.Popen], ranks=None) -> list[dict]:
    for rank in ranks if ranks is not None else range(len(procs)):
        log = (tmp_path / f"rank{rank}.log").read_text()
        assert procs[rank].returncode == 0, f"rank {rank} exited with {procs[rank].returncode}:\n{log}"
    return [torch.load(tmp_path / f"rank{r}.pt") for r in (ranks if ranks is not None else range(len(procs)))]


def test_collectives_agree_across_two_processes(tmp_path):
    r0, r1 = results(tmp_path, launch(tmp_path, "collectives"))
    for r in (r0, r1):
        assert r["ok_one_false"] is False and r["ok_all_true"] is True and r["ok_tensor"] is False
        assert r["sums"] == {"loss": 1.5 + 3.0, "n": 8.0}
        assert r["broadcast"] == {"stop": True, "from": 0}
        assert "different keys" in r["keys_mismatch"]
        assert r["per_process"] == 3 and "train.batch_size 7" in r["batch_error"] and "multiple of 2" in r["batch_error"]
        assert "batch of 5 examples" in r["shard_error"]
        assert r["other_error"] == "RuntimeError"  # not a lost peer: left alone
    # The two slices of each global batch, rank 0's first, are that batch, in order; so each
    # epoch's reshuffle is the single process's.
    expected = global_batches(24, 6, epochs=2, seed=3)
    assert len(r0["shards"]) == len(expected)
    for a, b, batch in zip(r0["shards"], r1["shards"], expected):
        assert len(a) == len(b) == 3
        assert torch.equal(torch.cat([a, b]), batch)


def test_gradients_through_forward_equal_the_single_process_gradient(tmp_path):
    r0, r1 = results(tmp_path, launch(tmp_path, "gradients"))
    ref = tiny(100)  # the weights rank 0 started from; DDP copies them to rank 1 (seeded 101)
    ref(data(8)).mean().backward()  # the single process, on the whole global batch
    for r in (r0, r1):
        for name, w in ref.named_parameters():
            assert torch.equal(r["weights"][name], w.detach()), f"{name} is not rank 0's initial weight"
    for name, w in ref.named_parameters():
        # DDP averages two means of 4 per-example gradients where one process takes the mean of 8:
        # the same sum, added in another order. Reordering 8 fp32 terms of the gradient's size
        # moves the result by at most ~8 roundings of that size, so 32 ulps of the largest entry
        # is safe; a wrong reduction (one rank's half, a sum for a mean) is off by O(1).
        tol = 32 * EPS * float(w.grad.abs().max())
        assert torch.equal(r0["grads"][name], r1["grads"][name]), f"{name}: ranks differ after a step"
        torch.testing.assert_close(r0["grads"][name], w.grad, rtol=0, atol=tol)
    # model.module.loss(x) bypasses DDP's forward, so no gradient is reduced: each rank keeps the
    # gradient of its own half (training must go through forward).
    for name in r0["grads"]:
        assert not torch.allclose(r0["bypass"][name], r1["bypass"][name]), f"{name}: bypass was reduced"
        assert torch.equal(r0["bypass"][name], r0["own_half"][name])
    # unwrap gives the plain module's keys, so rank 0's state dict loads into a fresh model.
    fresh = Tiny()
    fresh.load_state_dict(r0["state"])


def single_process_adam(steps: list[torch.Tensor], skip: set[int]) -> tuple[Tiny, list[float]]:
    """The model after Adam steps on the global batches `steps`, skipping those in `skip`, and
    each epoch's (4 steps') sum of the batch losses times their sizes."""
    model, x_all = tiny(100), data(32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sums = [0.0, 0.0]
    for i, idx in enumerate(steps):
        opt.zero_grad(set_to_none=True)
        loss = model(x_all[idx]).mean()
        loss.backward()
        if i not in skip:
            opt.step()
            sums[i // 4] += loss.item() * len(idx)
    return model, sums


def test_adam_steps_on_two_ranks_equal_one_process_on_the_same_global_batches(tmp_path):
    r0, r1 = results(tmp_path, launch(tmp_path, "adam"))
    steps = global_batches(32, 8, epochs=2, seed=7)  # 8 steps, reshuffled once
    ref, ref_sums = single_process_adam(steps, skip={3})  # rank 1 saw a NaN at step 3: both skipped it
    for name, w in ref.named_parameters():
        assert torch.equal(r0["weights"][name], r1["weights"][name]), f"{name}: the ranks drifted apart"
        # Adam's update is lr * m / sqrt(v): a relative gradient error d (a few fp32 ulps, see the
        # gradient test) changes each of the 8 updates by about lr * d ~ 1e-9; the tolerance 1e-6 is
        # 1e-4 of one step (lr = 1e-2), which any other data order or skipped step would exceed.
        torch.testing.assert_close(r0["weights"][name], w.detach(), rtol=0, atol=1e-6)
    # The control: one step not skipped, or the order of one epoch changed, moves the weights by
    # far more than the tolerance.
    for other, _ in (single_process_adam(steps, skip=set()), single_process_adam(steps[::-1], skip={4})):
        assert max(float((r0["weights"][n] - w.detach()).abs().max()) for n, w in other.named_parameters()) > 1e-3
    # Metrics summed over ranks are the single process's sums over each global batch (the same
    # fp32 losses added in another order: 1e-5 relative is hundreds of ulps of the sum).
    assert r0["epoch_sums"] == r1["epoch_sums"]
    assert [s["n"] for s in r0["epoch_sums"]] == [24.0, 32.0]  # 3 of 4 steps counted in epoch 1
    assert [s["loss"] for s in r0["epoch_sums"]] == pytest.approx(ref_sums, rel=1e-5)


def test_a_killed_peer_ends_the_survivor_with_a_one_line_training_error(tmp_path):
    procs = launch(tmp_path, "killed")
    assert procs[1].returncode == 3
    (r0,) = results(tmp_path, procs, ranks=[0])
    msg = r0["error"]
    assert r0["type"] == "TrainingError" and "\n" not in msg
    assert "another training process stopped" in msg and "rank 0 of 2" in msg
    assert f"the last checkpoint in {tmp_path / 'run'} is kept" in msg
    assert f"torchrun --nproc_per_node=2 -m vaekit train --resume {tmp_path / 'run'}" in msg
    assert "[127.0.0.1]:" in msg  # gloo's cause names the peer: "Connection closed by peer", "Read error", ...
    assert r0["seconds"] < 8  # noticed at once, well within the 10 s timeout


def test_a_hung_peer_ends_the_survivor_after_the_timeout(tmp_path):
    procs = launch(tmp_path, "hung", wait_s=30, wait_for=(0,))
    (r0,) = results(tmp_path, procs, ranks=[0])
    assert r0["type"] == "TrainingError" and "\n" not in r0["error"]
    run = tmp_path / "run"  # no checkpoint in it: the line says to start again, not to resume
    assert f"no epoch finished, so {run} holds no checkpoint yet" in r0["error"]
    assert f"-m vaekit train CONFIG --out {run} --overwrite" in r0["error"] and "--resume" not in r0["error"]
    assert "Timed out" in r0["error"]
    assert 1.5 < r0["seconds"] < 10  # the 2 s timeout, not the default half hour


# ----------------------------------------------------------------------------- the workers


def _collectives(d: Distributed, out: dict) -> None:
    out["ok_one_false"] = d.all_ok(d.rank != 1)
    out["ok_all_true"] = d.all_ok(True)
    out["ok_tensor"] = d.all_ok(torch.tensor(d.rank == 0))
    out["sums"] = d.reduce_sums({"loss": torch.tensor(1.5 * (d.rank + 1)), "n": 4})
    try:
        d.reduce_sums({f"only_rank{d.rank}": 1.0})
    except RuntimeError as e:
        out["keys_mismatch"] = str(e)
    out["broadcast"] = d.broadcast({"stop": d.rank == 0, "from": d.rank})
    d.barrier()
    out["shards"] = [d.shard(idx) for idx in global_batches(24, 6, epochs=2, seed=3)]
    out["per_process"] = d.split_batch(6)
    for key, call in (("batch_error", lambda: d.split_batch(7)), ("shard_error", lambda: d.shard(torch.arange(5)))):
        try:
            call()
        except ConfigError as e:
            out[key] = str(e)
    try:
        with d.guard("run"):
            torch.zeros(2, 3) @ torch.zeros(2, 3)
    except Exception as e:
        out["other_error"] = type(e).__name__


def _gradients(d: Distributed, out: dict) -> None:
    model = d.wrap(tiny(100 + d.rank))
    out["weights"] = {n: w.detach().clone() for n, w in d.unwrap(model).named_parameters()}
    x = d.shard(data(8))
    model(x).mean().backward()
    out["grads"] = {n: w.grad.clone() for n, w in model.module.named_parameters()}
    model.zero_grad(set_to_none=True)
    model.module.loss(x).backward()
    out["bypass"] = {n: w.grad.clone() for n, w in model.module.named_parameters()}
    own = tiny(0)
    own.load_state_dict(d.unwrap(model).state_dict())
    own(x).mean().backward()
    out["own_half"] = {n: w.grad for n, w in own.named_parameters()}
    out["state"] = d.unwrap(model).state_dict()


def _adam(d: Distributed, out: dict) -> None:
    model, x_all = d.wrap(tiny(100 + d.rank)), data(32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sums, out["epoch_sums"] = {}, []
    for i, idx in enumerate(global_batches(32, 8, epochs=2, seed=7)):
        x = x_all[d.shard(idx)]
        if i == 3 and d.rank == 1:
            x = x * float("nan")  # only rank 1's half is bad; both must skip
        opt.zero_grad(set_to_none=True)
        loss = model(x).mean()
        loss.backward()
        if d.all_ok(torch.isfinite(loss)):
            opt.step()
            sums = {"loss": sums.get("loss", 0.0) + loss.detach() * len(x), "n": sums.get("n", 0) + len(x)}
        if i % 4 == 3:  # an epoch's end
            out["epoch_sums"].append(d.reduce_sums(sums))
            sums = {}
    out["weights"] = {n: w.detach().clone() for n, w in d.unwrap(model).named_parameters()}


def _killed(d: Distributed, out: dict, run: Path) -> None:
    model = d.wrap(tiny(100))
    model(d.shard(data(8))).mean().backward()  # one good step together
    if d.rank == 1:
        os._exit(3)  # killed: no cleanup, its sockets just close
    t0 = time.monotonic()
    try:
        with d.guard(run):
            model(d.shard(data(8))).mean().backward()  # DDP's all-reduce finds the peer gone
            d.all_ok(True)
    except Exception as e:
        out.update(type=type(e).__name__, error=str(e))
    out["seconds"] = time.monotonic() - t0


def _hung(d: Distributed, out: dict, run: Path) -> None:
    d.barrier()
    if d.rank == 1:
        time.sleep(60)  # alive but silent; the test kills it once rank 0 is done
    t0 = time.monotonic()
    try:
        with d.guard(run, resumable=lambda: (run / "train_state.pt").exists()):  # the loop's check
            d.all_ok(True)
    except Exception as e:
        out.update(type=type(e).__name__, error=str(e))
    out["seconds"] = time.monotonic() - t0


def _worker(scenario: str, folder: Path) -> None:
    t0 = time.monotonic()
    # Generous for the scenarios that should succeed: a loaded machine (other tests in parallel)
    # can take many seconds to start a process, and a collective waits for its slowest peer.
    timeout_s = {"killed": 10.0, "hung": 2.0}.get(scenario, 120.0)
    d = Distributed.from_env("cpu", timeout_s=timeout_s)
    assert d.enabled and d.world_size == 2 and d.is_main == (d.rank == 0)
    print(f"joined after {time.monotonic() - t0:.2f} s", flush=True)
    out: dict = {}
    if scenario in ("killed", "hung"):
        {"killed": _killed, "hung": _hung}[scenario](d, out, folder / "run")
    else:
        {"collectives": _collectives, "gradients": _gradients, "adam": _adam}[scenario](d, out)
    torch.save(out, folder / f"rank{d.rank}.pt")
    print(f"done after {time.monotonic() - t0:.2f} s", flush=True)
    if scenario == "hung":
        os._exit(0)  # the group is broken; leaving it could wait on the silent peer
    d.close()
    d.close()


if __name__ == "__main__":
    _worker(sys.argv[1], Path(sys.argv[2]))
