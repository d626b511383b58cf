"""One training process of the torchrun tests (tests/train/test_torchrun.py), also run alone for
the single-process reference:

    python -m torch.distributed.run --standalone --nproc_per_node=2 ddp_worker.py OUT MODES [overrides...]

MODES is a comma-separated list: `same-noise` replaces the posterior's random draws by a fixed
function of each example's posterior mean, so one process and two draw the same noise for the same
example and their weights can be compared; `stop-at-2` interrupts every process after epoch 2 (as
Ctrl-C would); `die-at-2` kills rank 1 after epoch 2; `resume` continues the run in OUT.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import torch

import vaekit
from vaekit.distributions import DiagonalGaussian

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def same_noise(self, num_samples=None, generator=None):
    """mu + sigma * eps with eps = sin(3 mu + 1): the same for an example in any batch or process."""
    shape = self.mu.shape if num_samples is None else (num_samples, *self.mu.shape)
    eps = torch.sin(3.0 * self.mu.detach() + 1.0).expand(shape)
    return self.mu + self.std * eps


class AfterEpoch2:
    def __init__(self, action: str) -> None:
        self.action = action

    def on_epoch_end(self, record: dict) -> None:
        if record["epoch"] != 2:
            return
        if self.action == "stop":
            raise KeyboardInterrupt
        if os.environ.get("RANK") == "1":
            sys.stderr.flush()
            os._exit(3)  # a worker that dies: no cleanup, no message


def main() -> None:
    out, modes, *overrides = sys.argv[1:]
    modes = set(modes.split(","))
    if "same-noise" in modes:
        DiagonalGaussian.rsample = same_noise
    callbacks = [AfterEpoch2("stop")] if "stop-at-2" in modes else []
    callbacks += [AfterEpoch2("die")] if "die-at-2" in modes else []
    config = vaekit.load_config(CONFIGS / "digits.yaml", ["train.report=false", "train.sample_grid=0", "data.limit=256",
                                                          "train.batch_size=32", "train.epochs=4", *overrides])
    vaekit.train(config, out, resume="resume" in modes, callbacks=callbacks)
    # No DDP wrapper may outlive train(): one freed at the interpreter's exit can abort the process.
    if any(isinstance(o, torch.nn.parallel.DistributedDataParallel) for o in gc.get_objects()):
        print("a DistributedDataParallel wrapper outlived vaekit.train", file=sys.stderr)
        sys.exit(4)


if __name__ == "__main__":
    main()
