"""Running for real (docs/deployment.md): two issuer and two verifier processes per PostgreSQL database.

Every service runs as `civicid <role> serve` (gunicorn) in its own process; the
issuers share one database and the verifiers another, each pair behind a
round-robin reverse proxy (the stand-in for deploy/nginx.conf) whose address
is the pair's ``PUBLIC_URL``. The test pins individual steps to one process
(``rebase``) so that every hand-over between steps crosses processes: the
only state the two processes of a pair share is the database (and the
configuration: keystore, DID, secret key, verifier signing key).
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
import time
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

import pytest

import sdjwt
from sdjwt.encoding import b64url_encode

_TESTS = Path(__file__).resolve().parents[1]
for _folder in ("issuer", "verifier"):  # The existing wire-level wallet clients live there.
    if str(_TESTS / _folder) not in sys.path:
        sys.path.insert(0, str(_TESTS / _folder))

from deploy_support import RoundRobinProxy, Service, civicid, postgres_database, rebase  # noqa: E402
from issuer_helpers import NATIONAL_ID as CLAIMS  # noqa: E402
from issuer_wallet_client import WalletClient, check, make_proof  # noqa: E402
from verifier_helpers import NATIONAL_ID as NATIONAL_ID_VCT  # noqa: E402
from verifier_helpers import Wallet, http_json  # noqa: E402

pytestmark = pytest.mark.postgres

PASSPHRASE = "deployment test keystore passphrase"
SECRET_KEY = "k" * 24 + "deployment-test-secret-key"
COUNTER_TOKEN = "counter-" + "c" * 40
VERIFIER_SEED = b64url_encode(bytes([0x44]) * 32)  # Every verifier process signs as the same did:key.


@pytest.fixture
def verifier_pg_url(postgres_admin_url: str) -> Iterator[str]:
    with postgres_database(postgres_admin_url) as url:
        yield url


def _open_request(verifier: Service, policy: str = "age-over-18") -> dict[str, Any]:
    status, body, _ = http_json("POST", verifier.url + "/api/requests", {"policy": policy}, token=COUNTER_TOKEN)
    assert status == 201, body
    return dict(body)


def _request_uri_on(uri: str, verifier: Service) -> str:
    """The openid4vp:// link with its request_uri sent to one verifier process."""
    parts = urllib.parse.urlsplit(uri)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query["request_uri"] = rebase(query["request_uri"], verifier.url)
    return "openid4vp://?" + urllib.parse.urlencode(query)


def _present(wallet: Wallet, opened: dict[str, Any], fetch_on: Service, post_to: Service) -> tuple[int, dict[str, Any]]:
    request, _ = wallet.fetch_request(_request_uri_on(opened["request_uri"], fetch_on))
    vp_token = wallet.build_vp_token(request)
    return wallet.post(rebase(request["response_uri"], post_to.url), {"vp_token": json.dumps(vp_token), "state": request["state"]})


def test_two_issuers_and_two_verifiers_on_postgres_serve_one_flow(
    tmp_path: Path, pg_url: str, verifier_pg_url: str
) -> None:
    services: list[Service] = []
    proxies: list[RoundRobinProxy] = []
    try:
        # 1. The root authority's DID, made offline (`did create --out`): nothing is sent anywhere.
        root_key, root_next = tmp_path / "root.key", tmp_path / "root-next.key"
        civicid("registry", "keygen", str(root_key), env={})
        civicid("registry", "keygen", str(root_next), env={})
        root_did = civicid("registry", "did", "create", "--key", str(root_key), "--next-key", str(root_next),
                           "--out", str(tmp_path / "root-did.entry"), env={}).strip()
        assert root_did.startswith("did:civic:")

        # 2. The registry (SQLite: the primary is one node; the services are what scale out here).
        registry = Service("registry", ["registry", "serve", "--workers", "1", "--db", str(tmp_path / "registry.db")], {
            "CIVICID_REGISTRY_ORIGIN": "registry.deploy-test.localhost/v1",
            "CIVICID_REGISTRY_ROOTS": root_did,
            "CIVICID_REGISTRY_LOG_KEY_FILE": str(tmp_path / "registry-log.key"),
            "CIVICID_REGISTRY_INSTANCE_PATH": str(tmp_path / "registry"),
            "CIVICID_REGISTRY_CHECKPOINT_INTERVAL": "0.2",
        }, tmp_path)
        services.append(registry.start())
        registry.wait_ready("/policy")
        civicid("registry", "submit", str(tmp_path / "root-did.entry"), "--registry", registry.url, env={})
        status, policy, _ = http_json("GET", registry.url + "/policy")
        assert status == 200 and policy["roots"] == [root_did], policy
        policy_file = tmp_path / "registry-policy.json"
        policy_file.write_text(json.dumps(policy))

        # 3. The office: keys + DID on the registry, accredited by the root's key (`issuer init`).
        keystore = tmp_path / "office.keystore"
        office = json.loads(civicid(
            "issuer", "init", "--keystore", str(keystore), "--registry-url", registry.url, "--authority-key", str(root_key),
            env={"CIVICID_ISSUER_KEYSTORE_PASSPHRASE": PASSPHRASE, "CIVICID_ISSUER_REGISTRY_POLICY": str(policy_file)},
        ).splitlines()[0])
        assert office["accredited"] is True

        # 4. Both issuer processes get the same configuration; PUBLIC_URL is the proxy in front of them.
        issuer_proxy = RoundRobinProxy()
        proxies.append(issuer_proxy)
        issuer_env = {
            "CIVICID_ISSUER_DATABASE": pg_url,
            "CIVICID_ISSUER_PUBLIC_URL": issuer_proxy.url,
            "CIVICID_ISSUER_SECRET_KEY": SECRET_KEY,
            "CIVICID_ISSUER_DID": office["did"],
            "CIVICID_ISSUER_KID": office["kid"],
            "CIVICID_ISSUER_KEYSTORE": str(keystore),
            "CIVICID_ISSUER_KEYSTORE_PASSPHRASE": PASSPHRASE,
            "CIVICID_ISSUER_REGISTRY_URL": registry.url,
            # A one-second list lifetime, so a revocation reaches the counters within the test.
            "CIVICID_ISSUER_STATUS_LIST_TTL": "1",
        }
        # The first command on the database creates the schema, before several processes start on it.
        admin_token = civicid("issuer", "token", "create", "--name", "deploy-test", "--role", "supervisor", env=issuer_env).strip()
        issuer_a = Service("issuer-a", ["issuer", "serve", "--workers", "2"], issuer_env, tmp_path)
        issuer_b = Service("issuer-b", ["issuer", "serve", "--workers", "1"], issuer_env, tmp_path)
        issuer_proxy.backends[:] = [issuer_a.url, issuer_b.url]

        verifier_proxy = RoundRobinProxy()
        proxies.append(verifier_proxy)
        verifier_env = {
            "CIVICID_VERIFIER_DATABASE": verifier_pg_url,
            "CIVICID_VERIFIER_PUBLIC_URL": verifier_proxy.url,
            "CIVICID_VERIFIER_API_TOKENS": json.dumps([COUNTER_TOKEN]),
            "CIVICID_VERIFIER_SIGNING_KEY": VERIFIER_SEED,
            "CIVICID_VERIFIER_REGISTRY_URL": registry.url,
            "CIVICID_VERIFIER_REGISTRY_POLICY": str(policy_file),
        }
        verifier_a = Service("verifier-a", ["verifier", "serve", "--workers", "1", "--threads", "2"],
                             {**verifier_env, "CIVICID_VERIFIER_INSTANCE_PATH": str(tmp_path / "verifier-a")}, tmp_path)
        verifier_b = Service("verifier-b", ["verifier", "serve", "--workers", "1", "--threads", "2"],
                             {**verifier_env, "CIVICID_VERIFIER_INSTANCE_PATH": str(tmp_path / "verifier-b")}, tmp_path)
        verifier_proxy.backends[:] = [verifier_a.url, verifier_b.url]

        for service in (issuer_a, issuer_b, verifier_a):
            services.append(service.start())
        # Verifier A creates its schema on first start; B starts on the existing one.
        verifier_a.wait_ready("/api/policies")
        services.append(verifier_b.start())
        for service in (issuer_a, issuer_b):
            service.wait_ready("/.well-known/openid-credential-issuer")
        verifier_b.wait_ready("/api/policies")

        # Issuer A's two gunicorn workers each need their own connection: a burst of nonces across them.
        with ThreadPoolExecutor(max_workers=6) as pool:
            answers = list(pool.map(lambda _: http_json("POST", issuer_a.url + "/nonce")[0], range(60)))
        assert answers == [200] * 60, answers

        # 5. An officer system creates the offer on issuer A.
        status, offer, _ = http_json("POST", issuer_a.url + "/admin/offers",
                                     {"credential_configuration_id": "national_id", "claims": CLAIMS}, token=admin_token)
        assert status == 201, offer

        # 6. The wallet: offer and metadata through the proxy, the code redeemed on B, the nonce from B,
        #    the credential from A. Each hand-over is a row in the shared database.
        wallet_client = WalletClient(clock=lambda: int(time.time()))
        resolved = wallet_client.resolve_offer(offer["credential_offer"])
        assert resolved["credential_issuer"] == issuer_proxy.url
        meta, as_meta = wallet_client.metadata(issuer_proxy.url)
        code = resolved["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]["pre-authorized_code"]
        token = check(wallet_client.token({"token_endpoint": rebase(as_meta["token_endpoint"], issuer_b.url)}, code, offer["tx_code"]))
        again = wallet_client.token({"token_endpoint": rebase(as_meta["token_endpoint"], issuer_a.url)}, code, offer["tx_code"])
        assert again.status == 400 and again.body.get("civicid_reason") == "offer_redeemed", again.body
        nonce = wallet_client.nonce({"nonce_endpoint": rebase(meta["nonce_endpoint"], issuer_b.url)})
        holder = sdjwt.Ed25519PrivateKey.generate()
        proof = make_proof(holder, aud=meta["credential_issuer"], nonce=nonce, iat=int(time.time()))
        issued = check(wallet_client.credential({"credential_endpoint": rebase(meta["credential_endpoint"], issuer_a.url)},
                                                token["access_token"], resolved["credential_configuration_ids"][0], [proof]))
        credential = issued["credentials"][0]["credential"]
        status, found, _ = http_json("GET", issuer_b.url + "/admin/credentials?offer_id=" + offer["offer_id"], token=admin_token)
        assert status == 200 and len(found["credentials"]) == 1, found
        credential_id = found["credentials"][0]["id"]

        # 7. The counter opens a request on verifier A; the wallet fetches the request object from B (same
        #    signing key, so it matches A's client_id) and posts its answer to B; A shows the decision.
        wallet = Wallet(holder, {NATIONAL_ID_VCT: credential}, lambda: int(time.time()))
        opened = _open_request(verifier_a)
        status, body = _present(wallet, opened, fetch_on=verifier_b, post_to=verifier_b)
        assert (status, body) == (200, {}), body
        status, result, _ = http_json("GET", rebase(opened["result_url"], verifier_a.url), token=COUNTER_TOKEN)
        assert status == 200, result
        assert result["state"] == "done" and result["decision"] is True, result
        assert result["claims"] == {"national_id": {"age_equal_or_over": {"18": True}}}

        # 8. A supervisor revokes on issuer B; once verifier B's cached list has expired (ttl 1 s),
        #    a new request there fails with status_revoked. The list is fetched through the issuers' proxy.
        status, revoked, _ = http_json("POST", f"{issuer_b.url}/admin/credentials/{credential_id}/revoke", token=admin_token)
        assert (status, revoked) == (200, {"id": credential_id, "status": "revoked"})
        time.sleep(2.1)
        opened = _open_request(verifier_b)
        status, body = _present(wallet, opened, fetch_on=verifier_a, post_to=verifier_b)
        assert status == 400 and body["error_description"].startswith("status_revoked"), body
        status, result, _ = http_json("GET", rebase(opened["result_url"], verifier_a.url), token=COUNTER_TOKEN)
        assert result["decision"] is False and [r["code"] for r in result["reasons"]] == ["status_revoked"], result
        assert issuer_proxy.hits[issuer_a.url] and issuer_proxy.hits[issuer_b.url], issuer_proxy.hits
    finally:
        for service in reversed(services):
            service.stop()
        for proxy in proxies:
            proxy.close()
