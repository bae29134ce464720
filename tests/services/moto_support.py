"""``mock_aws`` with fresh moto state for every test, but one boto3 session for all of them.

``mock_aws()`` replaces ``boto3.DEFAULT_SESSION`` with ``None`` while it is active, so every
test's first ``boto3.client(...)`` built a new session, and every new session parses
botocore's endpoint rules and service models from scratch: ~1 s per test (cProfile: most of
it ``json.loads`` under ``botocore.loaders``), far more than the test itself. Here moto's
backends are still reset when each mock starts and stops (each test sees only what it
created), while ``boto3.DEFAULT_SESSION`` is one session for the whole test session, so the
parsed models are reused. Clients are still created per test (a client is cheap from a
warm session, and tests register event hooks on theirs).

The shared session is created after ``moto`` is imported (this module imports it first), so
it carries moto's ``before-send`` handler like any session made inside ``mock_aws``; the
mock being stopped, that handler lets requests through, which is why the session is only
ever the default one *inside* a mock: it is put back to what it was when the mock ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from moto import mock_aws
from moto.core.config import DefaultConfig, default_user_config

_SHARED: list[boto3.Session] = []


def shared_session() -> boto3.Session:
    """The one boto3 session the mocked tests share (created on first use)."""
    if not _SHARED:
        _SHARED.append(boto3.Session())
    return _SHARED[0]


@contextmanager
def fresh_mock_aws() -> Iterator[None]:
    """``with mock_aws():`` (moto's state reset on entry and exit), boto3's default session
    being the shared one inside it."""
    config: DefaultConfig = {"core": {**default_user_config["core"], "reset_boto3_session": False}}
    with mock_aws(config=config):
        previous = boto3.DEFAULT_SESSION
        boto3.DEFAULT_SESSION = shared_session()
        try:
            yield
        finally:
            boto3.DEFAULT_SESSION = previous
