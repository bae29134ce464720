"""The job's failures: each ``JobError`` carries the exit code the process ends with (see
``__main__``); ``RecordError`` is one bad record or value, before the caller names where."""

from __future__ import annotations


class JobError(Exception):
    """A run failure with a clear message for the user and the process exit code to use."""

    exit_code = 1
    kind = "error"


class DataError(JobError):
    """Input records or the model artefact are missing or malformed. Retrying cannot help."""

    exit_code = 1
    kind = "data_error"


class UsageError(JobError):
    """The run's parameters are wrong (bad value, missing, conflicting). Retrying cannot help."""

    exit_code = 2
    kind = "usage_error"


class StorageError(JobError):
    """S3 could not be read or written (access denied, throttling, network). A retry may help."""

    exit_code = 3
    kind = "storage_error"


class RecordError(Exception):
    """A problem with one record or value; the caller adds where it was found."""
