"""HTTP for the wallet: urllib with timeouts, size limits and an https-only rule.

Every answer comes from a server we do not control, so each read is bounded,
redirects are not followed (OpenID4VCI and OpenID4VP endpoints never need
them, and a redirect could move a bearer token to another host), and JSON is
parsed strictly (no duplicate names, no NaN).

Plain ``http://`` is refused except to a loopback address when the caller
allows it (``--insecure-loopback``, for tests and local demos).
"""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import InsecureURL, NetworkError

__all__ = ["Http", "Response", "MAX_BODY", "check_url", "strict_json"]

MAX_BODY = 1024 * 1024
"""No answer a wallet needs is larger than 1 MiB (a status list of 8 million entries compresses far below it)."""

DEFAULT_TIMEOUT = 10.0
_LOOPBACK_NAMES = frozenset({"localhost"})


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: Any, what: str, *, allow_loopback_http: bool) -> str:
    """Return ``url`` if it is an absolute https URL (or allowed loopback http); else raise."""
    if not isinstance(url, str) or not url or len(url) > 4096 or not url.isascii():
        raise InsecureURL(f"the {what} is not a usable URL")
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise InsecureURL(f"the {what} is not a usable URL") from exc
    if not host or parts.username is not None or parts.password is not None or any(c in url for c in " \r\n\t"):
        raise InsecureURL(f"the {what} is not a usable URL")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and allow_loopback_http and _is_loopback(host):
        return url
    raise InsecureURL(f"the {what} must use https")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate member name")
        result[key] = value
    return result


def strict_json(data: bytes | str, what: str) -> Any:
    """Parse JSON refusing duplicate names, NaN/Infinity and absurd nesting."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, object_pairs_hook=_unique_object, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise NetworkError(f"the {what} is not valid JSON") from exc


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str]

    def json(self, what: str) -> Any:
        return strict_json(self.body, what)

    def json_object(self, what: str) -> dict[str, Any]:
        value = self.json(what)
        if not isinstance(value, dict):
            raise NetworkError(f"the {what} is not a JSON object")
        return value


class Http:
    """A tiny HTTP client: GET and POST, bounded and https-only."""

    def __init__(self, *, allow_loopback_http: bool = False, timeout: float = DEFAULT_TIMEOUT, max_body: int = MAX_BODY) -> None:
        self.allow_loopback_http = allow_loopback_http
        self.timeout = timeout
        self.max_body = max_body
        self._opener = urllib.request.build_opener(_NoRedirect())

    def check(self, url: Any, what: str) -> str:
        return check_url(url, what, allow_loopback_http=self.allow_loopback_http)

    def request(
        self,
        method: str,
        url: str,
        what: str,
        *,
        form: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        accept: str = "application/json",
    ) -> Response:
        """Send a request; return the response whatever its status (callers read OAuth errors)."""
        self.check(url, what)
        data: bytes | None = None
        all_headers = {"Accept": accept, "User-Agent": "civicid-wallet/0.1"}
        if form is not None:
            data = urllib.parse.urlencode(form).encode("ascii")
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            data = json.dumps(json_body, separators=(",", ":")).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        req = urllib.request.Request(url, data=data, headers=all_headers, method=method)
        try:
            try:
                resp = self._opener.open(req, timeout=self.timeout)
            except urllib.error.HTTPError as err:
                resp = err  # 4xx/5xx: the body holds the OAuth error object.
            with resp:
                body = resp.read(self.max_body + 1)
                status = resp.status if hasattr(resp, "status") else resp.getcode()
                header_map = {k.lower(): v for k, v in resp.headers.items()}
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or type(exc).__name__
            raise NetworkError(f"could not reach the {what} ({reason})") from exc
        if len(body) > self.max_body:
            raise NetworkError(f"the {what} answered more than {self.max_body} bytes")
        if 300 <= status < 400:
            raise NetworkError(f"the {what} answered with a redirect, which is not followed")
        content_type = header_map.get("content-type", "").split(";")[0].strip().lower()
        return Response(status, content_type, body, header_map)

    def get(self, url: str, what: str, accept: str = "application/json") -> Response:
        return self.request("GET", url, what, accept=accept)

    def post_form(self, url: str, what: str, form: Mapping[str, str], headers: Mapping[str, str] | None = None) -> Response:
        return self.request("POST", url, what, form=form, headers=headers)

    def post_json(self, url: str, what: str, body: Any, headers: Mapping[str, str] | None = None) -> Response:
        return self.request("POST", url, what, json_body=body, headers=headers)
