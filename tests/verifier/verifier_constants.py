"""Constants shared by the verifier tests (a module of its own: `conftest` is not importable by name)."""

AUD = "decentralized_identifier:did:key:z6MkTestVerifier"
NONCE = "n-0S6_WzA2Mj"
TOKEN = "counter-token-" + "x" * 32
