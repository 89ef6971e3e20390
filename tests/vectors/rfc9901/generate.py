"""Derive the rejection cases in this folder from RFC 9901's own appendix A.3 example.

Each case is the RFC's SD-JWT VC presentation (``example-a.3-sd-jwt-vc-presentation.json``)
with one thing changed: the presentation text or what the verifier expects. The
changes are plain text edits, so the output is the same on every run:

    python tests/vectors/rfc9901/generate.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent

# An RFC 9901 section 5.1 disclosure (email) that the A.3 credential does not reference.
_FOREIGN_DISCLOSURE = "WyI2SWo3dE0tYTVpVlBHYm9TNXRtdlZBIiwgImVtYWlsIiwgImpvaG5kb2VAZXhhbXBsZS5jb20iXQ"


def _flip_last_char(segment: str) -> str:
    """Change the final base64url character so the decoded bytes differ."""
    return segment[:-2] + ("A" if segment[-2] != "A" else "B") + segment[-1]


def main() -> None:
    base = json.loads((HERE / "example-a.3-sd-jwt-vc-presentation.json").read_text("utf-8"))
    presentation: str = base["presentation"]
    verifier: dict[str, Any] = base["verifier"]
    parts = presentation.split("~")
    jwt, disclosures, kb_jwt = parts[0], parts[1:-1], parts[-1]
    header, payload, signature = jwt.split(".")

    def case(name: str, description: str, text: str, error: str, match: str, **changes: Any) -> None:
        out = {
            "description": description,
            "source": "tests/vectors/rfc9901/generate.py, from RFC 9901 appendix A.3 (example-a.3-sd-jwt-vc-presentation.json)",
            "issuer_jwk": base["issuer_jwk"],
            "presentation": text,
            "verifier": {**verifier, **changes},
            "expected": {"error": error, "match": match},
        }
        (HERE / f"{name}.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", "utf-8")

    case("a3-kb-jwt-wrong-nonce", "The verifier expects another nonce than the one the KB-JWT carries (replay)",
         presentation, "KeyBindingError", "'nonce' does not match", nonce="0987654321")
    case("a3-kb-jwt-wrong-audience", "The KB-JWT was made for another verifier",
         presentation, "KeyBindingError", "'aud' does not name this verifier", audience="https://other-verifier.example.org")
    case("a3-kb-jwt-too-old", "The verifier checks the presentation a day after the KB-JWT's iat",
         presentation, "KeyBindingError", "too old", now=verifier["now"] + 86400)
    case("a3-kb-jwt-missing", "The KB-JWT is stripped while the verifier requires key binding",
         "~".join([jwt, *disclosures, ""]), "KeyBindingError", "no KB-JWT")
    case("a3-kb-jwt-signature-altered", "The last character of the KB-JWT signature is changed",
         "~".join([jwt, *disclosures, _flip_last_char(kb_jwt)]), "KeyBindingError", "KB-JWT signature does not verify")
    case("a3-disclosure-dropped", "The nationalities disclosure is removed after the KB-JWT was made, so sd_hash no longer matches",
         "~".join([jwt, *disclosures[:-1], kb_jwt]), "KeyBindingError", "'sd_hash' does not match")
    case("a3-disclosure-unreferenced", "A disclosure from another credential (RFC 9901 section 5.1, email) is added",
         "~".join([jwt, *disclosures, _FOREIGN_DISCLOSURE, kb_jwt]), "DisclosureMismatch", "not referenced by any digest")
    case("a3-disclosure-duplicated", "The same disclosure is sent twice",
         "~".join([jwt, *disclosures, disclosures[-1], kb_jwt]), "DisclosureMismatch", "appears more than once")
    case("a3-issuer-signature-altered", "The last character of the issuer signature is changed",
         "~".join([f"{header}.{payload}.{_flip_last_char(signature)}", *disclosures, kb_jwt]),
         "SignatureInvalid", "issuer-signed JWT signature does not verify")
    case("a3-credential-expired", "The verifier's clock is past the credential's exp (1883000000) beyond the leeway",
         presentation, "Expired", "expired", now=1883000000 + 3600)
    case("a3-alg-not-allowed", "The verifier allows only EdDSA, the credential is ES256",
         presentation, "UnsupportedAlgorithm", "alg is not allowed", algorithms=["EdDSA"])


if __name__ == "__main__":
    main()
