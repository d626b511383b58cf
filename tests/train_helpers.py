"""Helpers the training tests share."""

from __future__ import annotations


class StopAt:
    """Interrupt the run at the end of epoch `k`, as Ctrl-C would (the state is saved by then)."""

    def __init__(self, k: int) -> None:
        self.k = k

    def on_epoch_end(self, record: dict) -> None:
        if record["epoch"] == self.k:
            raise KeyboardInterrupt
