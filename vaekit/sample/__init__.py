"""Sampling and the image grids that show it."""

from vaekit.sample.grid import grid_array, grid_png, reconstruction_pairs, sample_grid, save_grid
from vaekit.sample.ops import decode, encode, interpolate, reconstruct, sample, traverse
from vaekit.sample.samplers import GMMSampler, PriorSampler, fitted_sampler

__all__ = ["GMMSampler", "PriorSampler", "decode", "encode", "fitted_sampler", "grid_array", "grid_png", "interpolate", "reconstruct", "reconstruction_pairs", "sample", "sample_grid", "save_grid", "traverse"]
