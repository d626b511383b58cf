"""The markdown tables of bench/tabular.py: synthesis against TVAE (with the plain PyTorch floor)
and imputation against the baselines, each row with its targets marked."""

from __future__ import annotations

import math
from typing import Any

from tabular_baselines import BASELINES

RATIO_TARGET = 3.0  # vaekit at least this many times faster per epoch than TVAE (issue 14)


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def synthesis_lines(results: dict[str, Any]) -> list[str]:
    lines = ["| table | model | quality | ML efficacy, synthetic (real) | closer to train | median DCR to held-out "
             "| s / epoch, mean (median) | s to fit |", "|---|---|---|---|---|---|---|---|"]
    checks = ["", "| table | quality >= TVAE | efficacy >= TVAE | speed-up, mean epochs | speed-up, median epochs | "
              f">= {RATIO_TARGET:g}x (median) | plain PyTorch floor, s / epoch (median) | TVAE / floor | vaekit / floor |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        for model in ("vaekit", "TVAE"):
            m = r[model]
            lines.append(f"| {name} | {model} | {m['quality']:.3f} | {m['metric']} {m['efficacy']:.3f} "
                         f"({m['efficacy_real']:.3f}) | {m['closer_to_train']:.3f} | {m['dcr_holdout']:.3f} "
                         f"| {m['s_per_epoch']:.3f} ({m['s_per_epoch_median']:.3f}) | {m['fit_s']:.1f} |")
        v, t = r["vaekit"], r["TVAE"]
        mean, median = (t[k] / v[k] for k in ("s_per_epoch", "s_per_epoch_median"))
        f = r["floor"]["s_per_epoch_median"]
        checks.append(f"| {name} | {_yes(v['quality'] >= t['quality'])} | {_yes(v['efficacy'] >= t['efficacy'])} "
                      f"| {mean:.2f}x | {median:.2f}x | {_yes(median >= RATIO_TARGET)} | {f:.3f} "
                      f"| {t['s_per_epoch_median'] / f:.2f}x | {v['s_per_epoch_median'] / f:.2f}x |")
    return lines + checks


def _cell(error: dict) -> str:
    nrmse, accuracy = error["mean_nrmse"], error["mean_accuracy"]
    return " / ".join([f"{nrmse:.3f}" if not math.isnan(nrmse) else "-",
                       f"{accuracy:.3f}" if not math.isnan(accuracy) else "-"])


def _better(a: dict, b: dict, key: str) -> bool:
    """a no worse than b on `key` (lower RMSE, higher accuracy); a NaN (no such column) passes."""
    x, y = a[key], b[key]
    if math.isnan(x) or math.isnan(y):
        return True
    return x <= y if key == "mean_nrmse" else x >= y


def _interval(lo: float, hi: float) -> str:
    return "-" if math.isnan(lo) else f"[{lo:+.3f}, {hi:+.3f}]"


def beyond_noise(against: dict[str, tuple[float, float]]) -> bool:
    """Whether the other method is better than vaekit beyond the noise of the rows: the 95% interval
    of vaekit's RMSE minus its lies above 0, or of the accuracy difference below 0."""
    nrmse, accuracy = against["nrmse"], against["accuracy"]
    return (not math.isnan(nrmse[0]) and nrmse[0] > 0) or (not math.isnan(accuracy[1]) and accuracy[1] < 0)


def imputation_lines(results: dict[str, Any]) -> list[str]:
    methods = ["vaekit", *BASELINES]
    lines = [f"| table | missing | {' | '.join(methods)} | beats means | >= IterativeImputer "
             f"| vaekit - IterativeImputer, 95% intervals (RMSE; accuracy) | vaekit - means, 95% intervals "
             f"| better than vaekit beyond noise: IterativeImputer / means |",
             "|---|---|" + "---|" * (len(methods) + 5)]
    for name, r in results.items():
        for rate, errors in r["imputation"].items():
            v = errors["vaekit"]
            means = all(_better(v, errors["means"], k) for k in ("mean_nrmse", "mean_accuracy"))
            iterative = all(_better(v, errors["IterativeImputer"], k) for k in ("mean_nrmse", "mean_accuracy"))
            a, vs_means = v["against_iterative"], v["against_means"]
            worse = " / ".join("**yes**" if beyond_noise(x) else "no" for x in (a, vs_means))
            lines.append(f"| {name} | {rate:.0%} | {' | '.join(_cell(errors[m]) for m in methods)} "
                         f"| {_yes(means)} | {_yes(iterative)} | {_interval(*a['nrmse'])}; {_interval(*a['accuracy'])} "
                         f"| {_interval(*vs_means['nrmse'])}; {_interval(*vs_means['accuracy'])} | {worse} |")
    return lines
