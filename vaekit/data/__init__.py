"""Data sets (filled in by the data package work)."""
