"""Puts the project root on sys.path so tests import `components`, `stacks`, `services`."""
