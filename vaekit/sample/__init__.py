"""Sampling and the image grids that show it; sentences for text runs (`vaekit.sample.text`)."""

from vaekit.sample.grid import grid_array, grid_png, reconstruction_pairs, sample_grid, save_grid
from vaekit.sample.ops import decode, encode, interpolate, reconstruct, sample, traverse
from vaekit.sample.samplers import GMMSampler, PriorSampler, fitted_sampler
from vaekit.sample.text import interpolate_text, reconstruct_text, sample_text

__all__ = ["GMMSampler", "PriorSampler", "decode", "encode", "fitted_sampler", "grid_array", "grid_png", "interpolate",
           "interpolate_text", "reconstruct", "reconstruct_text", "reconstruction_pairs", "sample", "sample_grid",
           "sample_text", "save_grid", "traverse"]
