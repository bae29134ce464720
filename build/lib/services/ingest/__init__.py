"""Ingest Lambda: JSON Lines objects from the data lake's raw zone -> DynamoDB (see handler.py).

Deployed as a source directory with the handler ``handler.handler``; this package file only
lets the tests import ``services.ingest.handler``.
"""
