"""Where the wallet's trust comes from: the one place a :class:`registry.trust.TrustSource` is built.

The wallet checks every received credential (issuer key at issuance time,
accreditation for the type, published type metadata) and every verifier's
request (the verifier DID's key) through a ``TrustSource``. Two sources:

* ``--registry URL`` (``CIVICID_WALLET_REGISTRY``): the networked registry
  client, :mod:`registry.client`, which checks inclusion proofs. It is wired
  here and nowhere else.
* ``--trust FILE`` (``CIVICID_WALLET_TRUST``): an offline trust snapshot, a JSON
  file read into a :class:`registry.trust.StaticTrust`::

      {"keys": [{"did": "did:civic:...", "kid": "did:civic:...#key-1", "jwk": {...},
                 "valid_from": 0, "valid_until": null}],
       "accreditations": [{"did": "...", "vct": "urn:civicid:national_id:1",
                           "valid_from": 0, "valid_until": 4611686018427387904}],
       "types": {"urn:civicid:national_id:1": {<SD-JWT VC type metadata>}}}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import InputError

__all__ = ["TrustConfigError", "load_trust", "static_trust_from_json"]


class TrustConfigError(InputError):
    code = "trust_not_configured"
    hint = "pass --registry URL (CIVICID_WALLET_REGISTRY) or --trust FILE (CIVICID_WALLET_TRUST)"


def static_trust_from_json(data: Any) -> Any:
    """Build a StaticTrust from a trust snapshot object (validated)."""
    import sdjwt
    from registry.trust import StaticTrust

    if not isinstance(data, dict):
        raise TrustConfigError("the trust file is not a JSON object")
    trust = StaticTrust()
    try:
        for entry in data.get("keys", []):
            key = sdjwt.public_key_from_jwk(entry["jwk"])
            trust.add_key(str(entry["did"]), str(entry["kid"]), key, int(entry.get("valid_from", 0)),
                          None if entry.get("valid_until") is None else int(entry["valid_until"]))
        for entry in data.get("accreditations", []):
            trust.accredit(str(entry["did"]), str(entry["vct"]), int(entry.get("valid_from", 0)),
                           int(entry.get("valid_until", 2**62)))
        types = data.get("types", {})
        if not isinstance(types, dict):
            raise TypeError("types")
        for vct, metadata in types.items():
            if not isinstance(metadata, dict):
                raise TypeError("type metadata")
            trust.publish_type(vct, metadata)
    except (KeyError, TypeError, ValueError, AttributeError, sdjwt.SDJWTError) as exc:
        raise TrustConfigError("the trust file is not a valid trust snapshot") from exc
    return trust


def load_trust(registry_url: str | None, trust_file: str | None) -> Any:
    """The wallet's TrustSource, from the registry or an offline snapshot."""
    if registry_url:
        import os

        from registry import client as registry_client
        from registry.errors import RegistryError

        # The pinned trust policy (log key, witnesses, quorum, roots): CIVICID_WALLET_REGISTRY_POLICY.
        # Without it the registry's own /policy is trusted on first use (a demo on one machine only).
        policy_file = os.environ.get("CIVICID_WALLET_REGISTRY_POLICY")
        try:
            return registry_client.from_url(registry_url, policy_file)
        except RegistryError as exc:
            raise TrustConfigError(f"cannot use the registry at {registry_url}: {exc.message}") from exc
    if trust_file:
        try:
            raw = Path(trust_file).read_bytes()
        except OSError as exc:
            raise TrustConfigError(f"cannot read the trust file {trust_file}: {exc.strerror}") from exc
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise TrustConfigError("the trust file is not JSON") from exc
        return static_trust_from_json(data)
    raise TrustConfigError("no registry or trust snapshot is configured")
