"""The static OpenAPI description is served and lists every route the app has (and no others)."""

from __future__ import annotations

import re
from typing import Any


def test_openapi_matches_routes(plain_app: Any) -> None:
    doc = plain_app.test_client().get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    described = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    actual = set()
    for rule in plain_app.url_map.iter_rules():
        if rule.endpoint.startswith(("oid4vci.", "admin.")):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                actual.add((method, path))
    assert described == actual
