"""Production serving through gunicorn, shared by every civicid service's ``serve`` command.

The development server is never used outside tests. Each worker process builds
its own app from the factory after forking (so no database connection or
thread crosses a fork).
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["run_gunicorn"]


def run_gunicorn(factory: Callable[[], Any], *, host: str, port: int, workers: int = 2, threads: int = 4) -> None:
    """Serve ``factory()`` with gunicorn (gthread workers) until interrupted."""
    from gunicorn.app.base import BaseApplication

    class _Application(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("accesslog", "-")
            self.cfg.set("graceful_timeout", 10)

        def load(self) -> Any:
            return factory()

    _Application().run()
