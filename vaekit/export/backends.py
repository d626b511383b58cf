"""Writing a part (`vaekit.export.parts`) as an ONNX or TorchScript file, and checking the file.

ONNX: torch.export-based exporter first (`torch.onnx.export(dynamo=True)`, the batch axis and a
text's length axis declared dynamic); where it fails, or writes a graph that does not reproduce
PyTorch at other sizes (it unrolls a GRU over the traced length, say), the TorchScript-based
exporter, with the same axes dynamic. TorchScript: `torch.jit.trace`. Either way the file written
is loaded back (onnxruntime; `torch.jit.load`) and run at a batch size (and a text length) other
than the traced one; its outputs must match the PyTorch part's within `TOLERANCE`.

Both exporters talk a lot: progress lines on stdout, warnings (TracerWarning, deprecations) and
torch's logging (torchvision, absent, is "not installed"): all kept from the user here.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from typing import Callable

import torch

from vaekit.errors import ConfigError
from vaekit.export.parts import BATCH, LENGTH, Part

TOLERANCE = 1e-5  # max abs difference to PyTorch's outputs an exported file may show
TRACE_ROWS, CHECK_ROWS = 2, 5  # the batch sizes traced and checked at: two, so a fixed batch shows
LEGACY_OPSET = 17
EXTRA = 'pip install "vaekit[export]"'


class Rejected(Exception):
    """An exporter's attempt that failed: why, in one line."""


@contextlib.contextmanager
def quiet():
    """Silence the exporters: their stdout, warnings and torch's log lines below errors."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx",
                                                     "torch._export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def require_onnx():
    """The onnxruntime module; ConfigError naming the extra when onnx, onnxscript (the
    torch.export-based exporter's) or onnxruntime is missing."""
    try:
        import onnx  # noqa: F401  (both exporters write through it)
        import onnxruntime
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise ConfigError(f"exporting to ONNX needs onnx, onnxscript and onnxruntime ({e.name} is missing); "
                          f"{EXTRA}") from None
    return onnxruntime


def _one_line(e: BaseException) -> str:
    """An exporter's or onnxruntime's exception in a few words: its type and the first line that
    says something (past torch.export's banner and onnxruntime's status preamble)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    if "Status Message:" in text:  # onnxruntime: "[ONNXRuntimeError] : 2 : ... Status Message: invalid expand shape"
        text = text.split("Status Message:", 1)[1]
        text = re.sub(r"^\s*\S*onnxruntime_src\S*.*? was false\.\s*", "", text)  # the C++ check, then what it means
    if "Exception summary" in text:  # torch.export: the cause follows its advice
        text = text.split("Exception summary", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    found = f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__
    return found if len(found) <= 160 else found[:157] + "..."


def max_difference(got: tuple[torch.Tensor, ...], want: tuple[torch.Tensor, ...]) -> float:
    """The largest |got - want| over every output; equal infinities (a masked logit) count 0,
    a shape that differs or a NaN anywhere counts inf."""
    worst = 0.0
    for a, b in zip(got, want, strict=True):
        if a.shape != b.shape:
            return float("inf")
        a, b = a.double(), b.double()
        diff = torch.where(torch.isinf(b) & (a == b), torch.zeros((), dtype=a.dtype), (a - b).abs())
        if diff.numel():
            worst = max(worst, float("inf") if bool(diff.isnan().any()) else float(diff.max()))
    return worst


def _axes(part: Part) -> list[dict[int, str]]:
    return [{i: n for i, n in enumerate(spec.shape) if n in (BATCH, LENGTH)} for spec in part.inputs]


_REGISTRIES: dict = {}  # opset -> the exporter's table of ATen -> ONNX translations, built once per process


@contextlib.contextmanager
def _registry_built_once():
    """Have torch.onnx.export build its translation table (about 1,000 onnxscript functions
    parsed from source: half of a small model's export time) once per process rather than once
    per file. The table is private to torch, so where it is not found nothing changes; it is
    only read during an export without a custom translation table, as here."""
    try:
        from torch.onnx._internal.exporter._registration import ONNXRegistry
        build = ONNXRegistry.__dict__["from_torchlib"]  # the classmethod itself
    except (ImportError, KeyError):
        yield
        return

    def cached(cls, *args, **kwargs):
        key = (args, tuple(sorted(kwargs.items())))
        if key not in _REGISTRIES:
            _REGISTRIES[key] = build.__func__(cls, *args, **kwargs)
        return _REGISTRIES[key]

    ONNXRegistry.from_torchlib = classmethod(cached)
    try:
        yield
    finally:
        ONNXRegistry.from_torchlib = build


def _dynamo(part: Part, example: tuple[torch.Tensor, ...], path: str) -> None:
    dims = {name: torch.export.Dim(name, min=1) for name in (BATCH, LENGTH)}
    shapes = tuple({i: dims[n] for i, n in axes.items()} for axes in _axes(part))
    with _registry_built_once():
        # forward(*args): torch.export sees one argument, the tuple of inputs
        program = torch.onnx.export(part, example, dynamo=True, dynamic_shapes=(shapes,), verbose=False,
                                    input_names=[s.name for s in part.inputs],
                                    output_names=[n for n, _ in part.outputs])
    program.save(path, external_data=False)


def _legacy(part: Part, example: tuple[torch.Tensor, ...], path: str) -> None:
    names = [s.name for s in part.inputs]
    axes = {name: a for name, a in zip(names, _axes(part)) if a}
    axes.update({name: {0: BATCH} for name, _ in part.outputs})  # every output has the rows first
    torch.onnx.export(part, example, path, dynamo=False, input_names=names, output_names=[n for n, _ in part.outputs],
                      dynamic_axes=axes, opset_version=LEGACY_OPSET)


def _run_onnx(path: str, part: Part, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    ort = require_onnx()
    options = ort.SessionOptions()
    options.log_severity_level = 4  # a failing graph raises; its own log line on stderr would say it twice
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {s.name: t.numpy() for s, t in zip(part.inputs, inputs)}
    return tuple(torch.from_numpy(a) for a in session.run([n for n, _ in part.outputs], feed))


def _trace(part: Part, example: tuple[torch.Tensor, ...], path: str) -> None:
    torch.jit.save(torch.jit.trace(part, example, check_trace=False), path)


def _run_torchscript(path: str, part: Part, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        return tuple(torch.jit.load(path, map_location="cpu")(*inputs))


# format -> [(exporter name, write(part, example, path), run(path, part, inputs))], tried in order
EXPORTERS: dict[str, list[tuple[str, Callable, Callable]]] = {
    "onnx": [("torch.export", _dynamo, _run_onnx), ("torchscript-based", _legacy, _run_onnx)],
    "torchscript": [("torch.jit.trace", _trace, _run_torchscript)],
}


def write_checked(part: Part, fmt: str, path: str, example: tuple[torch.Tensor, ...], check: tuple[torch.Tensor, ...],
                  want: tuple[torch.Tensor, ...]) -> tuple[str, float]:
    """Write `part` to `path` in format `fmt`, traced at `example`, and check the file at `check`
    against PyTorch's outputs `want`. Returns (the exporter that succeeded, the max abs difference);
    ConfigError naming the family, the part and each exporter's failure when none did."""
    if fmt == "onnx":
        require_onnx()
    exporters = EXPORTERS[fmt]
    if fmt == "onnx" and any(isinstance(m, torch.nn.RNNBase) for m in part.modules()):
        # torch.export unrolls a GRU or LSTM over the traced length, a graph of one length only;
        # the TorchScript-based exporter writes ONNX's own GRU/LSTM, which runs at any length
        exporters = exporters[::-1]
    failures = []
    for name, write, run in exporters:
        try:
            with quiet(), torch.no_grad():
                write(part, example, path)
        except Exception as e:  # an exporter that cannot trace the part: the next one may
            failures.append(f"{name} cannot trace it ({_one_line(e)})")
            continue
        try:
            with quiet():
                got = run(path, part, check)
        except Exception as e:
            failures.append(f"{name}'s file fails at other sizes than the traced ones ({_one_line(e)})")
            continue
        diff = max_difference(got, want)
        if diff <= TOLERANCE:
            return name, diff
        failures.append(f"{name}'s file differs from PyTorch by {diff:.3g} at other sizes than the traced ones")
    fix = "try --format torchscript" if fmt == "onnx" else "try --format onnx"
    raise ConfigError(f"model '{part.family}' cannot be exported to {fmt}: its {part.name} did not export "
                      f"({'; '.join(failures)}); {fix}, or export the other --part")
