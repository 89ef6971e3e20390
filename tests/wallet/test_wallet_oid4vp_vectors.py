"""The wallet side of tests/vectors/oid4vp/*.json (see the README there); the verifier runs the same files."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

import sdjwt
from registry.trust import StaticTrust
from wallet.errors import WalletError
from wallet.presentation import fetch_request, parse_request_link
from wallet.transport import Http, Response

FOLDER = Path(__file__).resolve().parents[1] / "vectors" / "oid4vp"
VECTORS = sorted(FOLDER.glob("request-*.json"))


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


class _Serve(Http):
    """An Http that answers the request URI with the vector's request object (no network)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.asked: list[str] = []

    def request(self, method: str, url: str, what: str, **kwargs: Any) -> Response:
        self.check(url, what)
        self.asked.append(url)
        return Response(200, "application/oauth-authz-req+jwt", self.token.encode("ascii"), {})


def _by_value(case: dict[str, Any]) -> str:
    """The vector's request object passed by value, as an offline counter's QR code holds it."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(case["link"]).query)
    return "openid4vp://?" + urllib.parse.urlencode({"client_id": query["client_id"][0], "request": case["request_object"]})


def _fetch(case: dict[str, Any], by_value: bool = False) -> Any:
    link = parse_request_link(_by_value(case) if by_value else case["link"], allow_loopback_http=False)
    key = sdjwt.public_key_from_jwk(case["input"]["verifier_jwk"])
    did = sdjwt.did_from_key(key)
    trust = StaticTrust()
    trust.add_key(did, did + "#" + did.removeprefix("did:key:"), key)
    http = _Serve(case["request_object"])
    request = fetch_request(link, http=http, trust=trust, now=case["input"]["now"])
    # By reference the wallet fetches the request URI once; by value it goes nowhere.
    assert http.asked == ([] if by_value else [link.request_uri])
    return request


@pytest.mark.parametrize("by_value", [False, True], ids=["by_reference", "by_value"])
@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_wallet_reads_each_request_vector(path: Path, by_value: bool) -> None:
    case = _load(path)
    if case["kind"] == "request_reject":
        with pytest.raises(WalletError) as raised:
            _fetch(case, by_value)
        assert raised.value.code == case["error"], raised.value
        return
    request = _fetch(case, by_value)
    payload = case["expected"]["payload"]
    assert request.client_id == payload["client_id"]
    assert "decentralized_identifier:" + request.verifier_did == payload["client_id"]
    assert (request.nonce, request.state, request.response_uri) == (payload["nonce"], payload["state"], payload["response_uri"])
    assert dict(request.purpose) == payload["purpose"] and request.client_name == payload["client_metadata"]["client_name"]
    asked = [(q.id, tuple(q.vct_values), [tuple(c.path) for c in q.claims]) for q in request.dcql.credentials]
    wanted = [(q["id"], tuple(q["meta"]["vct_values"]), [tuple(c["path"]) for c in q["claims"]])
              for q in payload["dcql_query"]["credentials"]]
    assert asked == wanted
