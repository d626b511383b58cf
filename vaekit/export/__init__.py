"""`vaekit export`: a run's encoder and decoder as ONNX or TorchScript files, checked on writing.

    RUN/export/encoder.onnx        x (and y) -> mu, logvar (or z for a point-mass posterior)
    RUN/export/encoder.onnx.json   what to feed it and what it returns: names, shapes, dtypes
    RUN/export/decoder.onnx        z (and y; inputs for text) -> the likelihood's tensors
    RUN/export/decoder.onnx.json

(`.pt` for TorchScript.) The parts are described in `vaekit.export.parts`, the exporters in
`vaekit.export.backends`. Every file takes any batch size (and a text any length): each is
loaded back after writing and run at another size than it was traced at, and its outputs must
match PyTorch's within 1e-5, or nothing is written and the error says why. Each file is written
atomically, so a file already there stays whole until the new one replaces it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vaekit.checks import check_path
from vaekit.errors import ConfigError, InputError
from vaekit.export.backends import CHECK_ROWS, TOLERANCE, TRACE_ROWS, require_onnx, write_checked
from vaekit.export.parts import Part, output_specs, parts
from vaekit.files import atomic_write, write_json
from vaekit.nn.recurrent import RNNEncoder
from vaekit.registry import suggest
from vaekit.run import Run, load_run
from vaekit.version import __version__

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
PARTS = ("encoder", "decoder", "both")
FOLDER = "export"  # RUN/export/, the default --out

__all__ = ["FORMATS", "PARTS", "export_model", "export_run"]


def export_run(run: Run | str | Path, format: str = "onnx", part: str = "both", out: str | Path | None = None) -> dict:
    """Export a run's encoder and/or decoder (`part`: 'encoder', 'decoder' or 'both') as
    `format` ('onnx' or 'torchscript') into the folder `out` (default RUN/export/). Returns what
    was written and checked: per part its file, sidecar, exporter, inputs, outputs and the max
    abs difference to PyTorch at a batch size other than the traced one. ConfigError naming the
    family where a part cannot be exported (nothing is written for it)."""
    if not isinstance(run, Run):
        run = load_run(run)
    folder = Path(out) if out is not None else run.output_dir(f"the exported files ({FOLDER}/)") / FOLDER
    codec = run.codec.to_dict()
    return export_model(run.model, format, part, folder, extra={"run": str(run.path), "codec": codec})


def export_model(model: nn.Module, format: str = "onnx", part: str = "both", out: str | Path = FOLDER,
                 extra: dict[str, Any] | None = None) -> dict:
    """`export_run` on a model (a built family, `load_run(...).model`), into the folder `out`;
    `extra` joins every sidecar (export_run adds the run's path and codec)."""
    fmt, which = _choice(format, FORMATS, "format"), _choice(part, PARTS, "part")
    if fmt == "onnx":
        require_onnx()  # before anything is traced or written
    folder = check_path(out, "export's out (a folder)")
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--out {folder} is a file; name a folder for the exported files")
    with _on_cpu_in_eval(model):  # where the files are traced and checked; a file runs anywhere after
        chosen = parts(model, which)
        for p in chosen:
            _refuse_known(p, fmt)
        _mkdir(folder)
        report = {"format": fmt, "tolerance": TOLERANCE, "parts": {}}
        for p in chosen:
            report["parts"][p.name] = _export_part(p, fmt, folder, extra or {})
    return report


@contextlib.contextmanager
def _on_cpu_in_eval(model: nn.Module):
    """The model on the CPU in eval mode for the export, then back where and as it was."""
    first = next(iter(model.parameters()), None)
    device, training = (first.device if first is not None else torch.device("cpu")), model.training
    try:
        yield model.cpu().eval()
    finally:
        model.to(device).train(training)


def _choice(value: str, allowed, what: str) -> str:
    if value not in allowed:
        raise ConfigError(f"export {what} {value!r} is not one of {', '.join(allowed)}"
                          f"{suggest(str(value), list(allowed))}")
    return value


def _refuse_known(part: Part, fmt: str) -> None:
    """ConfigError up front for what is known not to export (rather than both exporters' traces)."""
    if fmt == "onnx" and part.name == "encoder" and isinstance(part.model.encoder, RNNEncoder):
        raise ConfigError(f"model '{part.family}' cannot be exported to onnx: its rnn encoder packs sentences of "
                          f"different lengths (pack_padded_sequence), which neither ONNX exporter traces; use "
                          f"--format torchscript, or --part decoder")


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from vaekit.errors import OutputError

        raise OutputError(f"cannot create '{folder}' ({e.strerror}); choose another --out") from None


def _export_part(part: Part, fmt: str, folder: Path, extra: dict[str, Any]) -> dict:
    """Write one part and its sidecar; the sidecar's contents (with the file paths)."""
    length = part.model.data_shape[0] if part.text else 0
    short = max(1, length - 3) if part.text else 0  # a text part is checked at other lengths too
    example = part.example(TRACE_ROWS, length, torch.Generator().manual_seed(0))
    check = part.example(CHECK_ROWS, short, torch.Generator().manual_seed(1))
    with torch.no_grad():
        traced, want = part(*example), part(*check)
    outputs = output_specs(part, traced, want, ((TRACE_ROWS, length), (CHECK_ROWS, short)))
    path = folder / f"{part.name}{FORMATS[fmt]}"
    result: dict[str, Any] = {}

    def write(tmp: str) -> None:
        result["exporter"], result["max_abs_diff"] = write_checked(part, fmt, tmp, example, check, want)

    atomic_write(path, write)
    sidecar = {
        "vaekit_version": __version__, "model": part.family, "part": part.name, "format": fmt, "file": path.name,
        "exporter": result["exporter"], "inputs": [s.to_dict() for s in part.inputs],
        "outputs": [s.to_dict() for s in outputs],
        "check": {"traced_rows": TRACE_ROWS, "checked_rows": CHECK_ROWS,
                  **({"traced_length": length, "checked_length": short} if part.text else {}),
                  "max_abs_diff": result["max_abs_diff"], "tolerance": TOLERANCE},
        **extra,
    }
    if fmt == "onnx":
        sidecar["opset"] = _opset(path)
    if hasattr(part.model.likelihood, "blocks"):  # a table: which params belong to which column
        sidecar["layout"] = [dataclasses.asdict(b) for b in part.model.likelihood.blocks]
    meta = path.with_name(path.name + ".json")
    write_json(meta, sidecar)
    return {"file": str(path), "sidecar": str(meta), "exporter": result["exporter"],
            "max_abs_diff": result["max_abs_diff"], "inputs": sidecar["inputs"], "outputs": sidecar["outputs"]}


def _opset(path: Path) -> int | None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def summary(report: dict) -> str:
    """The report as the lines `vaekit export` prints: a file per part with its check."""
    lines = []
    for name, r in report["parts"].items():
        lines.append(f"{r['file']}  ({name}, {r['exporter']}; max abs diff to PyTorch {r['max_abs_diff']:.2g} at "
                     f"{CHECK_ROWS} rows, traced at {TRACE_ROWS})")
    return "\n".join(lines)

