"""Training: the loop, checkpoints, schedules, EMA."""
