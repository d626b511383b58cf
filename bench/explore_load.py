"""The explorer under load (issue 15): decode latency of `vaekit explore` served over HTTP.

For each MNIST-size model, a run is trained briefly (latency does not depend on how well a model
has learnt; one epoch on the training split), `vaekit explore RUN` is started as its own process
on 127.0.0.1, and clients in this process (threads, one keep-alive HTTP connection each) post
random codes to `/api/decode`, as the page does while a slider moves. Each request's latency is
the wall-clock time from sending it to reading the whole reply (the decoded picture as a PNG data
URL); every reply is checked to be a 200 with an image. Reported: p50 and p99 latency and the
requests per second, for 1 client (what one user feels: the issue's target is p50 under 50 ms)
and for 8 concurrent clients (the issue's load test).

    python bench/explore_load.py             # writes its section of docs/benchmarks.md
    python bench/explore_load.py --quick     # fewer requests, prints only
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from common import DOC, ROOT, default_data_dir, write_section
import vaekit

TARGET_P50_MS = 50.0
MODELS = {
    # name -> (preset, overrides): the binarized MNIST reference MLP, and the small conv VAE on the same images
    "MLP 784-300-300-40 (gated)": ("binarized_mnist.yaml", []),
    "conv 28x28, 16 latent": ("mnist_conv.yaml", ["data.name=binarized-mnist"]),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_run(preset: str, overrides: list[str], out: Path, data_dir: str | None, limit: int) -> Path:
    """A briefly trained run of `preset` (reused if already there)."""
    if (out / "model.safetensors").is_file():
        return out
    extra = [f"data.data_dir={data_dir}"] if data_dir else []
    config = vaekit.load_config(ROOT / "configs" / preset, [
        *overrides, *extra, f"data.limit={limit}", "train.epochs=1", "train.compile=false", "train.precision=fp32",
        "train.report=false", "train.progress=false", "train.sample_grid=0", "train.device=cpu"])
    vaekit.train(config, out, overwrite=True, log=lambda m: None)
    return out


def serve(run: Path, port: int) -> subprocess.Popen:
    """`vaekit explore RUN` on 127.0.0.1:port, once it answers /api/info."""
    import httpx

    proc = subprocess.Popen([sys.executable, "-m", "vaekit", "explore", str(run), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"vaekit explore exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/info", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("vaekit explore did not answer within 180 s")


def load(url: str, dim: int, clients: int, per_client: int, seed: int) -> tuple[list[float], float]:
    """Latencies (seconds) of clients x per_client decodes, and the whole wall-clock time."""
    import httpx

    url = url.rstrip("/")
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    start = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        rng = np.random.default_rng(seed + i)
        with httpx.Client(timeout=30) as http:
            http.post(f"{url}/api/decode", json={"z": rng.standard_normal(dim).tolist()})  # connect, warm
            start.wait()
            for _ in range(per_client):
                z = rng.standard_normal(dim).tolist()
                t = time.perf_counter()
                r = http.post(f"{url}/api/decode", json={"z": z})
                body = r.content
                latencies[i].append(time.perf_counter() - t)
                if r.status_code != 200 or b"image/png" not in body:
                    errors.append(f"{r.status_code}: {body[:200]!r}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"{len(errors)} decodes failed, e.g. {errors[0]}")
    return [x for lat in latencies for x in lat], wall


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer requests; prints only")
    ap.add_argument("--requests", type=int, default=400, help="decodes per client count (split among the clients)")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--limit", type=int, default=10000, help="training images of the brief run")
    ap.add_argument("--data-dir", default=default_data_dir())
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench-explore"))
    ap.add_argument("--doc", default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.requests, args.limit = 80, 1000
    rows = []
    for name, (preset, overrides) in MODELS.items():
        run = train_run(preset, overrides, Path(args.out) / Path(preset).stem, args.data_dir, args.limit)
        dim = vaekit.load_run(run).model.config.latent_dim
        port = free_port()
        proc = serve(run, port)
        try:
            for clients in args.clients:
                lat, wall = load(f"http://127.0.0.1:{port}", dim, clients, max(1, args.requests // clients), seed=0)
                row = {"model": name, "clients": clients, "requests": len(lat), "p50_ms": 1e3 * percentile(lat, 50),
                       "p99_ms": 1e3 * percentile(lat, 99), "mean_ms": 1e3 * statistics.fmean(lat), "rps": len(lat) / wall}
                rows.append(row)
                print({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    body = render(rows, args)
    print(body)
    if not args.quick or args.doc:
        write_section("explore", body, Path(args.doc) if args.doc else DOC)
    return rows


def render(rows: list[dict], args) -> str:
    lines = [
        "## The explorer under load (`bench/explore_load.py`)", "",
        "`vaekit explore RUN` in its own process on 127.0.0.1, as the command serves it (one torch thread, model calls "
        "one at a time), clients in another "
        "process (threads, one keep-alive connection each) posting random codes to `/api/decode`, which answers with "
        "the decoded picture as a PNG. Latency: from sending a request to reading its whole reply. Each model trained "
        "one epoch on binarized MNIST (latency does not depend on training). The clients share the machine's 2 cores "
        f"with the server. Target (issue 15): p50 under {TARGET_P50_MS:g} ms for one client.", "",
        "| model | clients | requests | p50 ms | p99 ms | mean ms | requests/s | p50 < 50 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        meets = ("yes" if r["p50_ms"] < TARGET_P50_MS else "**no**") if r["clients"] == 1 else ""
        lines.append(f"| {r['model']} | {r['clients']} | {r['requests']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                     f"{r['mean_ms']:.1f} | {r['rps']:.0f} | {meets} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
