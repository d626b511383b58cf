"""What the export tests share: running an exported file on its own, as a user of it would
(conftest.py puts this folder on sys.path)."""

from __future__ import annotations

import torch


def run_file(path: str, fed: dict, output_names: list[str]) -> dict:
    """The exported file's outputs, loaded on its own: onnxruntime, or torch.jit.load."""
    if path.endswith(".onnx"):
        import onnxruntime as ort

        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        got = session.run(output_names, {k: v.numpy() for k, v in fed.items()})
        return {n: torch.from_numpy(a) for n, a in zip(output_names, got)}
    with torch.no_grad():
        return dict(zip(output_names, torch.jit.load(path)(*fed.values())))
