"""Hydra configs shipped inside the wheel: one folder per config group."""
