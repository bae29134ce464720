"""Composition of the platform: typed config, per-region platform, environment, commands."""
