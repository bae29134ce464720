"""Gunicorn settings for the forecast service (``gunicorn --config <this file>``).

Environment variables (a bad value stops the server with a message naming it):
    PORT             port to listen on, 1-65535. Default: 8080
    HOST             address to bind. Default: 0.0.0.0 (all interfaces of the container,
                     so the load balancer can reach the task)
    WEB_CONCURRENCY  worker processes, 1-32. Default: 2
    THREADS          threads per worker, 1-64. Default: 4

Read-only root filesystem: nothing is written outside the temporary directory
(``TMPDIR``, default /tmp, where workers keep their heartbeat files); gunicorn's control
socket, which would otherwise be created under ``$HOME``, is switched off, and logs go to
stdout/stderr.
"""

import os


def _int_env(name: str, default: int, low: int, high: int) -> int:
    """Return env ``name`` as an int in [low, high] (``default`` when unset)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValueError(f"{name}={raw!r} must be a whole number from {low} to {high}")
    return int(raw)


bind = [f"{os.environ.get('HOST', '').strip() or '0.0.0.0'}:{_int_env('PORT', 8080, 1, 65535)}"]
workers = _int_env("WEB_CONCURRENCY", 2, 1, 32)
# Threaded workers keep connections alive (the sync worker closes each one).
worker_class = "gthread"
threads = _int_env("THREADS", 4, 1, 64)
timeout = 30
graceful_timeout = 20
# Longer than the load balancer's idle timeout (60 s), so the load balancer, not the
# server, closes idle keep-alive connections (avoids sporadic 502s).
keepalive = 75
accesslog = "-"
errorlog = "-"
control_socket_disable = True
