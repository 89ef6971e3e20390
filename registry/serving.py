"""Production serving through gunicorn, shared by every civicid service's ``serve`` command.

The development server is never used outside tests. The factory is called once
in the master so a bad configuration fails before any worker starts; then each
worker builds its own app after forking, so no database connection or thread
crosses a fork. Access logs never carry query strings, and paths that hold
bearer references (an offer reference, a request id) are redacted.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

__all__ = ["run_gunicorn", "redact_path"]


def redact_path(path: str, prefixes: Sequence[str]) -> str:
    """``/credential-offer/abc`` -> ``/credential-offer/…`` for each configured prefix."""
    for prefix in prefixes:
        if path.startswith(prefix) and len(path) > len(prefix):
            return prefix + "…"
    return path


def run_gunicorn(
    factory: Callable[[], Any],
    *,
    host: str,
    port: int,
    workers: int = 2,
    threads: int = 4,
    access_log: bool = True,
    redact: Sequence[str] = (),
    check: Callable[[], None] | None = None,
) -> None:
    """Serve ``factory()`` with gunicorn until interrupted.

    ``check`` runs in the master before forking (fail fast with a one-line reason);
    ``redact`` lists path prefixes whose remainder is a secret reference.
    """
    from gunicorn.app.base import BaseApplication
    from gunicorn.glogging import Logger

    class _RedactingLogger(Logger):  # type: ignore[misc]
        def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
            atoms = dict(super().atoms(resp, req, environ, request_time))
            path = redact_path(str(atoms.get("U", "")), redact)
            atoms["U"] = path
            atoms["r"] = f"{atoms.get('m', '')} {path} {atoms.get('H', '')}"
            atoms["q"] = ""
            return atoms

    class _Application(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread" if threads > 1 else "sync")
            self.cfg.set("accesslog", "-" if access_log else None)
            self.cfg.set("errorlog", "-")
            self.cfg.set("logger_class", _RedactingLogger)
            self.cfg.set("access_log_format", '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)s')
            self.cfg.set("graceful_timeout", 10)

        def load(self) -> Any:
            return factory()

    if check is not None:
        check()
    _Application().run()
