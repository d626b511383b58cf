"""What the explorer serves of one run, computed once when it starts: no HTTP here.

`Explorer.load(run)` loads the run through `load_run` (one loading path for every entry point),
encodes a seeded subset of a split (`vaekit.report.pictures.subset`, as the report draws it), lays
their posterior means out in 2-D (`latent_map`: PCA, t-SNE or UMAP), orders the latent dimensions by
their KL to N(0, 1) (`vaekit.evaluate.latents.kl_per_dim`; by the variance of the codes where the
posterior is a point mass, VQ-VAE and WAE, which has no KL per dimension) and sets each slider's
range. Its methods then answer the page's questions with the shared recipes of `vaekit.sample`
(decode, reconstruct, interpolate, sample; sentences and rows through `sample.text` and
`sample.rows`), returning plain JSON-ready values, outputs shown as `vaekit.explore.render` says.

The model stays in eval mode; every call runs under `torch.inference_mode` and one lock, so that
requests served on several threads take turns on the model instead of fighting over the cores.
Nothing is written anywhere: the run directory is only read.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.errors import ConfigError, InputError
from vaekit.evaluate.latents import active_units, kl_per_dim
from vaekit.explore import render
from vaekit.report.pictures import latent_map, subset
from vaekit.run import Run, load_run
from vaekit.sample import ops
from vaekit.sample.text import class_blocks, interpolate_text, reconstruct_text, sample_text

MAX_POINTS = 2000  # points of the map by default: enough to see clusters, few enough to draw and send at once
SLIDER_SPREAD = 4.0  # a slider spans the prior's mean +- this many standard deviations (and every code of the map)


@dataclass
class Explorer:
    """One run, ready to explore: its model, the encoded subset (`x`, `y`, `mu`, `logvar`), the
    map's coordinates, the dimensions in order of information (`order`, by `scores`), the
    sliders' ranges (`low`, `high`)."""

    run: Run
    name: str
    kind: str
    split: str
    x: torch.Tensor
    y: torch.Tensor | None
    mask: torch.Tensor | None
    mu: torch.Tensor
    logvar: torch.Tensor
    coords: np.ndarray
    axes: str
    map_method: str
    order: list[int]
    scores: list[float]
    score_name: str
    low: list[float]
    high: list[float]
    start: list[float]
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, run: Run | str | Path, *, split: str = "test", limit: int = MAX_POINTS, seed: int = 0,
             map_method: str = "pca", device: str = "cpu", overrides: tuple[str, ...] = (), name: str | None = None
             ) -> Explorer:
        """Load `run` (a loaded Run or a run directory) and precompute what the page shows: the
        posterior means of a seeded subset of `limit` examples of `split`, their 2-D map
        (`map_method` 'pca', 'tsne' or 'umap'), the dimensions in order of KL."""
        run = run if isinstance(run, Run) else load_run(run, device=device, overrides=overrides)
        model = run.model.eval()
        if not model.traits.latent:
            raise ConfigError(f"model '{run.config.model.name}' of {run.path} has no latent code (a language model), "
                              f"so there is no latent space to explore; explore a VAE family instead")
        kind = render.data_kind(run.codec, run.data_shape)
        sub = subset(run.dataset().split(split), limit, seed)
        if len(sub) < 2:
            raise ConfigError(f"the {split} split of {run.path} has {len(sub)} example(s); the explorer needs at least 2 "
                              f"to draw a map")
        y = sub.y if sub.y is not None and sub.y.ndim == 1 else None  # class labels colour the map; conditions do not
        with torch.inference_mode():
            mu, logvar = ops.encode(model, sub.x, y=y if model.traits.conditional else None)
        coords, axes = latent_map(mu.numpy(), map_method, seed)
        gaussian = model.traits.gaussian_posterior
        scores = kl_per_dim(mu, logvar) if gaussian else active_units(mu)[1]
        order = sorted(range(len(scores)), key=lambda d: (-float(scores[d]), d))  # most informative first, ties by index
        low, high, start = _ranges(model, mu, gaussian)
        return cls(run, name or run.path.name or str(run.path), kind, split, sub.x, y, sub.mask, mu, logvar, coords,
                   axes, map_method, order, [float(s) for s in scores], "kl" if gaussian else "variance", low, high, start)

    # ------------------------------------------------------------------------- facts

    @property
    def model(self):
        return self.run.model

    @property
    def width(self) -> int:
        """D: numbers in one code, what /api/decode takes."""
        return ops.code_width(self.model)

    @property
    def conditional(self) -> bool:
        return bool(self.model.traits.conditional)

    @property
    def num_classes(self) -> int | None:
        """Classes a conditional model decodes with (None for the others)."""
        return int(self.model.num_classes) if self.conditional else None

    def class_names(self) -> list[str] | None:
        """The name of each class of the labels (the map's colours, a conditional model's choice), or None."""
        k = self.num_classes or self.run.dataset().num_classes
        if not k:
            return None
        codec = self.run.codec
        if self.kind == "text" and getattr(codec, "labels", None):
            return list(codec.labels)
        if self.kind == "table" and getattr(codec, "label", None) is not None:
            return [str(v) for v in codec.label_values(torch.arange(k))]
        return [str(i) for i in range(k)]

    def columns(self) -> list[dict[str, Any]] | None:
        """A table run's columns as the page's row form needs them: name, kind, and the values of a
        category or boolean (the label column of a conditional model too)."""
        if self.kind != "table":
            return None
        codec = self.run.codec
        out = []
        for c in [*codec.columns, *([codec.label] if codec.label is not None else [])]:
            entry: dict[str, Any] = {"name": c.name, "kind": c.kind}
            if c.kind == "categorical":
                entry["values"] = [render.cell(v) for v in c.categories]
            elif c.kind == "boolean":
                entry["values"] = [False, True]
            elif c.kind == "constant":
                entry["values"] = [render.cell(c.value)]
            out.append(entry)
        return out

    # ------------------------------------------------------------------------- answers

    def points(self) -> list[dict[str, Any]]:
        """The map: one {index, x, y, label} per encoded example (label None without labels)."""
        labels = self.y.tolist() if self.y is not None else [None] * len(self.coords)
        return [{"index": i, "x": float(a), "y": float(b), "label": lab}
                for i, ((a, b), lab) in enumerate(zip(self.coords.tolist(), labels))]

    def point(self, i: int) -> dict[str, Any]:
        """Example i of the map: its input and reconstruction as the data read, and its code."""
        with self.lock, torch.inference_mode():
            x, y = self.x[i:i + 1], self._labels(i)
            if self.kind == "text":
                (shown, recon), = reconstruct_text(self.run, x, y=y)
            else:
                if self.kind == "table":
                    shown = render.masked_rows(self.run, x, None if self.mask is None else self.mask[i:i + 1], y)[0]
                else:
                    shown = render.outputs(self.run, self.kind, x)[0]
                recon = render.outputs(self.run, self.kind, ops.reconstruct(self.model, x, y), y)[0]
        label = None if self.y is None else int(self.y[i])
        return {"index": i, "label": label, "input": shown, "reconstruction": recon, "code": self.mu[i].tolist()}

    def decode(self, z: torch.Tensor, cls: int | None = None) -> list[Any]:
        """The examples of codes z (N, D): the likelihood's mean (a sentence's greedy decoding), as
        `vaekit.sample.decode` gives it, shown as the data read."""
        with self.lock, torch.inference_mode():
            y = self._classes(cls, len(z))
            return render.outputs(self.run, self.kind, ops.decode(self.model, z, y), y)

    def interpolate(self, a: int, b: int, steps: int) -> list[Any]:
        """Decodings of `steps` evenly spaced points on the straight line between the posterior
        means of examples a and b of the map, both ends included (`vaekit.sample.interpolate`)."""
        with self.lock, torch.inference_mode():
            xa, xb, ya, yb = self.x[a:a + 1], self.x[b:b + 1], self._labels(a), self._labels(b)
            if self.kind == "text":
                return interpolate_text(self.run, xa, xb, steps, ya=ya, yb=yb)[0]
            path = ops.interpolate(self.model, xa, xb, steps, ya, yb)[0]  # (steps, *shape)
            # a conditional table's label column: the nearer end's (the model reads the one-hot moving between them)
            y = None if ya is None else torch.where(torch.linspace(0, 1, steps) < 0.5, ya, yb)
            return render.outputs(self.run, self.kind, path, y)

    def sample(self, n: int, temperature: float, seed: int, cls: int | None = None) -> list[Any]:
        """n examples from the prior, its spread scaled by `temperature`, the same seed giving the
        same examples: as `vaekit sample` draws them (a table's rows as `vaekit synthesize` does)."""
        with self.lock, torch.inference_mode():
            if self.kind == "text":
                return sample_text(self.run, n, temperature, seed, y=cls)
            if self.kind == "table":
                from vaekit.sample.rows import synthesize

                where = {} if cls is None else {self.run.codec.label.name: self.class_names()[cls]}
                return render.records(synthesize(self.run, n, where=where, seed=seed, temperature=temperature))
            y = cls
            if self.conditional and cls is None:  # every class in turn, in blocks, as a text run's samples
                y = class_blocks(n, self.num_classes)
            return render.outputs(self.run, self.kind, ops.sample(self.model, n, temperature, seed, y=y))

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None, mask: torch.Tensor | None = None
               ) -> dict[str, Any]:
        """A user's own example x (1, *shape), in model space: how the model reads it, its
        reconstruction and its code (what the sliders then start from)."""
        with self.lock, torch.inference_mode():
            y = y if self.conditional else None
            mu, _ = ops.encode(self.model, x, y=y)
            if self.kind == "text":
                (shown, recon), = reconstruct_text(self.run, x, y=y)
            else:
                shown = (render.masked_rows(self.run, x, mask, y) if self.kind == "table"
                         else render.outputs(self.run, self.kind, x))[0]
                recon = render.outputs(self.run, self.kind, ops.reconstruct(self.model, x, y), y)[0]
        return {"input": shown, "reconstruction": recon, "code": mu[0].tolist(),
                "label": None if y is None else int(y[0])}

    # ------------------------------------------------------------------------- helpers

    def _labels(self, i: int) -> torch.Tensor | None:
        """The label of example i for a conditional model (which reads it), else None."""
        return self.y[i:i + 1] if self.conditional and self.y is not None else None

    def _classes(self, cls: int | None, n: int) -> torch.Tensor | None:
        if not self.conditional:
            return None
        if cls is None:
            raise InputError(f"this run's model is conditional; give the class to decode with, 0 to {self.num_classes - 1}")
        return torch.full((n,), int(cls), dtype=torch.long)


def _ranges(model, mu: torch.Tensor, gaussian: bool) -> tuple[list[float], list[float], list[float]]:
    """Each slider's range and starting value: the prior's mean +- SLIDER_SPREAD standard
    deviations (a point-mass posterior's: the codes' own mean and spread), widened to hold every
    code of the map; the sliders start at that mean."""
    if gaussian:
        mean, std = ops._prior_moments(model, mu.device)
        mean, std = mean.float().cpu(), std.float().cpu()
    else:
        mean, std = mu.mean(0), mu.std(0).clamp_min(1e-3)
    low = torch.minimum(mean - SLIDER_SPREAD * std, mu.min(0).values)
    high = torch.maximum(mean + SLIDER_SPREAD * std, mu.max(0).values)
    return low.tolist(), high.tolist(), mean.tolist()
