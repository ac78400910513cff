"""Reward models (filled by the rewards issue)."""
