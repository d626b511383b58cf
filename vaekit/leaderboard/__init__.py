"""`vaekit leaderboard`: train several configs under one budget and seed, evaluate each the same
way on the same test split, and rank them in Markdown, CSV and a self-contained HTML page.

    entries = leaderboard(["configs/digits.yaml", "mine.yaml"], data="digits", budget="2m")

Each config trains into OUT/<config stem>. A config that does not parse, a run that diverges and
a run that fails in any other way each get a failed row, and the other entries go on. Re-running
skips entries whose run is complete and of the same effective config (reusing their stored
evaluation when it has the same K); an interrupted run resumes.

The one-class protocol (`vaekit oneclass`, `vaekit.leaderboard.oneclass`) lives here too: it also
trains a set of runs under one budget and tabulates them.
"""

from vaekit.leaderboard.entries import TIME_BUDGET_EPOCHS, Budget, Entry, parse_budget
from vaekit.leaderboard.runner import default_out, leaderboard
from vaekit.leaderboard.tables import (
    FILES,
    HIGHER_IS_BETTER,
    RANK_COLUMNS,
    rank,
    to_html,
    to_markdown,
    write_csv,
    write_leaderboard,
)

__all__ = [
    "FILES", "HIGHER_IS_BETTER", "RANK_COLUMNS", "TIME_BUDGET_EPOCHS", "Budget", "Entry", "default_out", "leaderboard",
    "parse_budget", "rank", "to_html", "to_markdown", "write_csv", "write_leaderboard",
]
