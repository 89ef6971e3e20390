"""SD-JWT VC profile rules (IETF draft-ietf-oauth-sd-jwt-vc).

What makes an SD-JWT an SD-JWT *VC*: the ``typ`` header, the registered claims
and which of them must stay always visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "TYP",
    "LEGACY_TYP",
    "KB_TYP",
    "NEVER_DISCLOSABLE",
    "StatusReference",
]

TYP = "dc+sd-jwt"
"""Media type of an SD-JWT VC (SD-JWT VC section 3.2.1)."""

LEGACY_TYP = "vc+sd-jwt"
"""The earlier media type, accepted by verifiers only when asked to."""

KB_TYP = "kb+jwt"
"""Media type of a Key Binding JWT (RFC 9901 section 4.3)."""

# SD-JWT VC section 3.2.2.2: iss, nbf, exp, cnf, vct, vct#integrity and status
# MUST NOT be selectively disclosed. civicid also keeps ``iat`` visible, because
# the verifier checks the issuer's key against the registry *at issuance time*;
# and RFC 9901 reserves ``_sd``, ``_sd_alg`` and ``...``.
NEVER_DISCLOSABLE = frozenset(
    {"iss", "nbf", "exp", "iat", "cnf", "vct", "vct#integrity", "status", "_sd", "_sd_alg", "..."}
)


@dataclass(frozen=True, slots=True)
class StatusReference:
    """A Token Status List reference (``status.status_list``: ``idx`` and ``uri``)."""

    idx: int
    uri: str

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> "StatusReference | None":
        from .errors import StatusListError

        status = claims.get("status")
        if status is None:
            return None
        ref = status.get("status_list") if isinstance(status, dict) else None
        if not isinstance(ref, dict):
            raise StatusListError("status claim must hold a 'status_list' object")
        idx, uri = ref.get("idx"), ref.get("uri")
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0 or not isinstance(uri, str) or not uri:
            raise StatusListError("status_list reference needs a non-negative integer 'idx' and a 'uri'")
        return cls(idx, uri)

    def to_claim(self) -> dict[str, Any]:
        return {"status_list": {"idx": self.idx, "uri": self.uri}}
