"""Reusable Pulumi components of the MLOps platform; they know nothing of stacks or config files."""
