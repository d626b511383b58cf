"""What the training loop says: the epoch label, how to read its figures, what to try when it
diverges. Kept apart from the loop so that the loop reads as the steps it takes."""

from __future__ import annotations

from vaekit.config import TrainConfig
from vaekit.data import Dataset


def epoch_label(epoch: int, done: int, elapsed: float, tc: TrainConfig) -> str:
    """'epoch 3/10'; or, when the time budget will end the run before train.epochs does (judged
    by the pace of the `done` epochs, `elapsed` seconds in all), 'epoch 76 (12.5 of 30 min)'."""
    budget = 60 * tc.max_minutes
    if budget > 0 and (done == 0 or elapsed / done * tc.epochs > budget):
        return f"epoch {epoch} ({elapsed / 60:.1f} of {tc.max_minutes:g} min)"
    return f"epoch {epoch}/{tc.epochs}"


def figures_note(select_by: str, family: str) -> str:
    """The line that says how to read the epoch lines: every figure higher-is-better."""
    note = "figures in nats per example, higher is better"
    if select_by == "objective":
        note += f"; val objective is minus {family}'s training loss, and picks the kept epoch"
    return note


def divergence_fixes(tc: TrainConfig, data: Dataset, real_valued: bool) -> str:
    """What to try when training diverges. Unstandardised vectors under a real-valued likelihood
    come first: a column in the tens of thousands diverges whatever the learning rate."""
    fix = f"lower train.lr (now {tc.lr:g}) or set train.grad_clip"
    if not data.is_image and data.codec.identity and real_valued:
        fix = f"standardise the data (data.standardize=standard), {fix}"
    return fix
