"""Differential test: ``sdjwt.verify``'s fast path against its strict, step-by-step path.

``verify`` first tries ``_verify_fast``, which accepts only the common case and
gives every other input (invalid ones included) to ``_verify_strict``. The
fast path may return a result only where the strict path returns the same
one; everywhere else the public function must behave exactly as the strict
path alone: the same result, or the same error class with the same message
(and, for key binding, the same cause), after the same number of issuer key
lookups.

Inputs: credentials issued with random claims, disclosable paths, decoys,
holder keys and options; the same presentations mutated as strings; and
presentations rebuilt from mutated JSON (payload, header, disclosures,
KB-JWT), re-signed so that the mutation reaches the checks past the signature.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import inspect
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sdjwt
from sdjwt.encoding import b64url_encode
from sdjwt.verification import _NOTHING_LEARNT, _verify_fast, _verify_strict

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _generator() -> ModuleType:
    """The vector generator (fixed keys, times and helpers), shared with conftest.py under the same name."""
    name = "civicid_tests_generate_sdjwt"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, VECTORS / "generate_sdjwt.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


gen = _generator()

SETTINGS = settings(max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

_PARAMETERS = [name for name in inspect.signature(sdjwt.verify).parameters]


def _positional(presentation: str, options: dict[str, Any]) -> tuple[Any, ...]:
    bound = inspect.signature(sdjwt.verify).bind(presentation, **options)
    bound.apply_defaults()
    return tuple(bound.arguments[name] for name in _PARAMETERS)


def _outcome(call: Callable[[], sdjwt.VerifiedSDJWT]) -> tuple[Any, ...]:
    try:
        result = call()
    except Exception as exc:  # noqa: BLE001 - any exception must match between the paths.
        cause = type(exc.__cause__) if isinstance(exc, sdjwt.KeyBindingError) else None
        return ("raised", type(exc), str(exc), cause)
    # Claim order is compared too: the fast path must build the claims in the same order.
    return ("returned", result, list(result.claims), result.disclosed)


class _Counting:
    """An issuer key lookup that records its calls, with the types of their arguments."""

    def __init__(self, lookup: Callable[[str, str | None, int | None], Any]) -> None:
        self.lookup = lookup
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, iss: str, kid: str | None, iat: int | None) -> Any:
        self.calls.append((iss, kid, iat, type(iat)))
        return self.lookup(iss, kid, iat)


def _lookup(iss: str, kid: str | None, iat: int | None) -> sdjwt.PublicKey:
    for entry in gen.ISSUER_KEYS:
        if (entry["iss"], entry["kid"]) == (iss, kid):
            return sdjwt.public_key_from_jwk(entry["jwk"])
    raise sdjwt.UnknownIssuerKey("no verification key is known for this issuer and kid")


def compare(presentation: Any, **options: Any) -> bool:
    """Assert that verify() and the strict path agree; return whether the fast path itself accepted."""
    options.setdefault("issuer_key", _lookup)
    options.setdefault("algorithms", ["EdDSA", "ES256"])
    options.setdefault("now", gen.NOW)
    options.setdefault("audience", gen.AUD)
    options.setdefault("nonce", gen.NONCE)
    lookup = options["issuer_key"]

    public_lookup, strict_lookup, fast_lookup = _Counting(lookup), _Counting(lookup), _Counting(lookup)
    public = _outcome(lambda: sdjwt.verify(presentation, **{**options, "issuer_key": public_lookup}))
    strict = _outcome(
        lambda: _verify_strict(*_positional(presentation, {**options, "issuer_key": strict_lookup}), _NOTHING_LEARNT)
    )
    assert public == strict
    assert public_lookup.calls == strict_lookup.calls
    assert len(strict_lookup.calls) <= 1

    try:
        fast = _verify_fast(*_positional(presentation, {**options, "issuer_key": fast_lookup}))
    except Exception as exc:  # noqa: BLE001
        # Only the caller's callables may raise through the fast path, as they do through the strict one.
        assert strict[0] == "raised" and strict[1] is type(exc) and strict[2] == str(exc)
        return False
    if isinstance(fast, sdjwt.VerifiedSDJWT):
        assert strict[0] == "returned"
        assert fast == strict[1] and list(fast.claims) == strict[2] and fast.disclosed == strict[3]
        return True
    return False


# ---------------------------------------------------------------------------
# The committed vectors: every verify case, valid or not.
# ---------------------------------------------------------------------------

def _verification_cases() -> list[str]:
    names = []
    for path in sorted((VECTORS / "sdjwt").glob("*.json")):
        case = json.loads(path.read_text(encoding="ascii"))
        if "presentation" in case and "verifier" in case:
            names.append(path.stem)
    return names


@pytest.mark.parametrize("name", _verification_cases())
def test_vector_case_same_outcome_on_both_paths(
    name: str, cases: dict[str, dict[str, Any]], run_verify_case: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = cases[name]
    public = _outcome(lambda: run_verify_case(case))
    with monkeypatch.context() as patch:
        # The strict path alone: the fast path gives every input up, having learnt nothing.
        patch.setattr("sdjwt.verification._verify_fast", lambda *args: None)
        strict = _outcome(lambda: run_verify_case(case))
    assert public == strict


# ---------------------------------------------------------------------------
# Issued credentials: random claims and options, valid by construction.
# ---------------------------------------------------------------------------

_NAMES = st.sampled_from(["given_name", "family_name", "birthdate", "address", "email", "age_over_18", "nickname", "x"])
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=12),
    st.sampled_from(["Erika", "K\u00f6ln", 'quote " and \\ backslash', "\u7f8e", "_sd", "...", "[{", "a:b"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_NAMES, inner, max_size=3)),
    max_leaves=6,
)
_HOLDERS = st.sampled_from(["ed25519", "p256", "none"])


def _holder(kind: str) -> Any:
    return {"ed25519": gen.HOLDER_ED, "p256": gen.HOLDER_P256, "none": None}[kind]


@st.composite
def issued(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    claims = draw(st.dictionaries(_NAMES, _VALUES, min_size=1, max_size=6))
    names = sorted(claims)
    disclosable = [(name,) for name in names if draw(st.booleans())]
    # Sometimes a path inside an object or array: the fast path takes these through the strict
    # path's own step-3 walk (`_replace_digests`).
    for name in names:
        value = claims[name]
        if isinstance(value, dict) and value and draw(st.booleans()):
            disclosable.append((name, sorted(value)[0]))
        elif isinstance(value, list) and value and draw(st.booleans()):
            disclosable.append((name, None))
    holder_kind = draw(_HOLDERS)
    holder = _holder(holder_kind)
    extra: dict[str, Any] = {}
    if draw(st.booleans()):
        extra["exp"] = gen.NOW + draw(st.integers(min_value=-200, max_value=10**6))
    if draw(st.booleans()):
        extra["nbf"] = gen.NOW + draw(st.integers(min_value=-(10**6), max_value=200))
    if draw(st.booleans()):
        extra["status"] = sdjwt.StatusReference(draw(st.integers(min_value=0, max_value=99)), gen.STATUS_URI)
    issuer, kid = draw(st.sampled_from([(gen.ISSUER_ED, gen.KID_ED), (gen.ISSUER_P256, gen.KID_P256)]))
    text = sdjwt.issue(
        claims,
        disclosable=disclosable,
        issuer_key=issuer,
        kid=kid,
        iss=gen.ISS,
        vct=gen.VCT,
        iat=gen.IAT + draw(st.integers(min_value=-100, max_value=100)),
        random=gen.SeededRandom(str(draw(st.integers(min_value=0, max_value=10**6)))),
        holder_jwk=None if holder is None else holder.public_key().public_jwk(),
        decoys=draw(st.integers(min_value=0, max_value=3)),
        **extra,
    ).serialize()
    parsed = sdjwt.SDJWT.parse(text)
    chosen = [d for d in parsed.disclosures if draw(st.booleans())]
    body = sdjwt.SDJWT(parsed.jwt, tuple(chosen)).without_key_binding()
    options: dict[str, Any] = {}
    if holder is None or draw(st.integers(min_value=0, max_value=5)) == 0:
        options["require_key_binding"] = False
        options["audience"] = draw(st.sampled_from([None, gen.AUD]))
        options["nonce"] = draw(st.sampled_from([None, gen.NONCE]))
        presentation = body
    else:
        kb = {"iat": gen.NOW - draw(st.integers(min_value=-100, max_value=500)), "aud": gen.AUD, "nonce": gen.NONCE}
        kb["sd_hash"] = sdjwt.sd_hash(body)
        presentation = body + gen.jws({"alg": holder.alg, "typ": "kb+jwt"}, kb, holder)
    options["now"] = gen.NOW + draw(st.integers(min_value=-100, max_value=100))
    options["leeway"] = draw(st.sampled_from([0, 60]))
    options["holder_algorithms"] = draw(st.sampled_from([("EdDSA", "ES256"), ("EdDSA",), ("ES256",)]))
    options["algorithms"] = draw(st.sampled_from([("EdDSA", "ES256"), ("EdDSA",), ("ES256",)]))
    options["limits"] = draw(st.sampled_from([sdjwt.DEFAULT_LIMITS, sdjwt.Limits(max_depth=3), sdjwt.Limits(max_disclosures=2)]))
    if "status" in extra and draw(st.booleans()):
        options["status"] = _status_check(draw(st.sampled_from(["valid", "revoked", "broken"])))
    return presentation, options


def _status_check(outcome: str) -> Callable[[sdjwt.StatusReference], None]:
    def check(reference: sdjwt.StatusReference) -> None:
        if outcome == "revoked":
            raise sdjwt.StatusRevoked("the credential was revoked by its issuer")
        if outcome == "broken":
            raise RuntimeError("the status service is down")

    return check


@SETTINGS
@given(issued())
def test_issued_presentations_same_outcome(case: tuple[str, dict[str, Any]]) -> None:
    presentation, options = case
    compare(presentation, **options)


@SETTINGS
@given(issued(), st.data())
def test_mutated_presentations_same_outcome(case: tuple[str, dict[str, Any]], data: st.DataObject) -> None:
    presentation, options = case
    mutated = data.draw(_string_mutation(presentation))
    compare(mutated, **options)


_CHARS = st.sampled_from(
    list("AZaz09-_") + list("~.=+/ \n\x00{}\"\\") + ["\u00e9", "\u2028"]
)


@st.composite
def _string_mutation(draw: st.DrawFn, text: str) -> str:
    kind = draw(st.sampled_from(["replace", "insert", "delete", "parts", "truncate", "respell", "standard-alphabet"]))
    if kind == "respell":
        # A part's last character with its spare bits changed: the same bytes, a second spelling.
        pieces = [piece for part in text.split("~") for piece in part.split(".")]
        piece = draw(st.sampled_from(pieces))
        if len(piece) % 4 in (2, 3):
            return text.replace(piece, gen.respell_last_char(piece), 1)
        return text
    if kind == "standard-alphabet":
        # The same bytes in the standard base64 alphabet, or with '=' padding.
        pieces = [piece for part in text.split("~") for piece in part.split(".") if piece]
        piece = draw(st.sampled_from(pieces))
        spelling = draw(st.sampled_from(["+", "/", "="]))
        if spelling == "=":
            spelled = piece + "=" * (-len(piece) % 4 or 4)
        else:
            spelled = piece.replace("-" if spelling == "+" else "_", spelling, 1)
        return text.replace(piece, spelled, 1)
    if kind == "parts":
        parts = text.split("~")
        index = draw(st.integers(min_value=0, max_value=len(parts) - 1))
        action = draw(st.sampled_from(["drop", "duplicate", "swap", "empty"]))
        if action == "drop":
            del parts[index]
        elif action == "duplicate":
            parts.insert(index, parts[index])
        elif action == "swap":
            other = draw(st.integers(min_value=0, max_value=len(parts) - 1))
            parts[index], parts[other] = parts[other], parts[index]
        else:
            parts[index] = ""
        return "~".join(parts)
    if kind == "truncate":
        return text[: draw(st.integers(min_value=0, max_value=len(text)))]
    index = draw(st.integers(min_value=0, max_value=len(text) - 1))
    if kind == "delete":
        return text[:index] + text[index + 1 :]
    char = draw(_CHARS)
    if kind == "insert":
        return text[:index] + char + text[index:]
    return text[:index] + char + text[index + 1 :]


# ---------------------------------------------------------------------------
# Rebuilt presentations: JSON mutated, then signed again, so that each
# mutation reaches the checks behind the signatures.
# ---------------------------------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _b64(text: str) -> str:
    return b64url_encode(text.encode("utf-8"))


def _sign(header: str, payload: str, key: Any) -> str:
    signing_input = _b64(header) + "." + _b64(payload)
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode("ascii")))


def _digest(encoded: str) -> str:
    return b64url_encode(hashlib.sha256(encoded.encode("ascii")).digest())


_BASE_CLAIMS = {"given_name": "Erika", "family_name": "Mustermann", "birthdate": "1963-08-12", "nickname": "E"}


class Parts:
    """A presentation as JSON texts and values, rebuilt (and re-signed) by :meth:`build`."""

    def __init__(self, holder: Any) -> None:
        self.holder = holder
        self.issuer, self.kid = gen.ISSUER_ED, gen.KID_ED
        self.header: dict[str, Any] = {"alg": "EdDSA", "typ": "dc+sd-jwt", "kid": gen.KID_ED}
        self.disclosures = [
            _json([f"salt-{i}", name, value]) for i, (name, value) in enumerate(_BASE_CLAIMS.items())
        ]
        self.payload: dict[str, Any] = {
            "iss": gen.ISS,
            "iat": gen.IAT,
            "exp": gen.EXP,
            "vct": gen.VCT,
            "cnf": {"jwk": holder.public_key().public_jwk()},
            "_sd": None,  # Filled in by build() unless a mutation set it.
            "_sd_alg": "sha-256",
        }
        self.present = [0, 1, 2]
        self.decoys = ["decoy-digest-0000000000000000000000000000000"]
        self.kb_header: dict[str, Any] = {"alg": holder.alg, "typ": "kb+jwt"}
        self.kb: dict[str, Any] = {"iat": gen.NOW - 10, "aud": gen.AUD, "nonce": gen.NONCE}
        self.payload_text: Callable[[str], str] = lambda text: text
        self.with_kb = True
        self.sd_hash_override: str | None = None
        self.respell = ""  # Which part's last character to spell differently (same bytes).
        self.post: list[Callable[[str], str]] = []  # Edits of the finished presentation string.

    def encoded(self) -> list[str]:
        encoded = [_b64(text) for text in self.disclosures]
        encoded[0] = self._respelled("disclosure", encoded[0])
        return encoded

    def _respelled(self, part: str, encoded: str) -> str:
        if self.respell != part:
            return encoded
        # Pad the JSON with spaces (before signing) until its base64url has spare bits to change.
        assert len(encoded) % 4 in (2, 3), "choose a part whose length leaves spare bits"
        return gen.respell_last_char(encoded)

    def _signed(self, header: str, payload: str, key: Any, which: str) -> str:
        while len(_b64(payload)) % 4 == 0:
            payload = payload[:-1] + " " + payload[-1]
        signing_input = _b64(header) + "." + self._respelled(which + "payload", _b64(payload))
        signature = b64url_encode(key.sign(signing_input.encode("ascii")))
        return signing_input + "." + self._respelled(which + "signature", signature)

    def build(self) -> str:
        if self.respell == "disclosure":
            while len(_b64(self.disclosures[0])) % 4 in (0, 1):
                self.disclosures[0] = self.disclosures[0][:-1] + " ]"
        encoded = self.encoded()
        payload = copy.deepcopy(self.payload)
        if payload.get("_sd", 0) is None:
            payload["_sd"] = sorted([_digest(d) for d in encoded] + self.decoys)
        jwt = self._signed(_json(self.header), self.payload_text(_json(payload)), self.issuer, "")
        body = "".join([jwt, "~", *(encoded[i] + "~" for i in self.present)])
        if self.with_kb:
            kb = dict(self.kb)
            kb.setdefault("sd_hash", self.sd_hash_override or sdjwt.sd_hash(body))
            body += self._signed(_json(self.kb_header), _json(kb), self.holder, "kb-")
        for edit in self.post:
            body = edit(body)
        return body


def _set(target: str, key: str, value: Any) -> Callable[[Parts], None]:
    def mutate(p: Parts) -> None:
        getattr(p, target)[key] = value

    return mutate


def _drop(target: str, key: str) -> Callable[[Parts], None]:
    def mutate(p: Parts) -> None:
        getattr(p, target).pop(key, None)

    return mutate


def _disclosure(index: int, text: str) -> Callable[[Parts], None]:
    def mutate(p: Parts) -> None:
        p.disclosures[index] = text

    return mutate


def _text(old: str, new: str) -> Callable[[Parts], None]:
    def mutate(p: Parts) -> None:
        previous = p.payload_text
        p.payload_text = lambda text: previous(text).replace(old, new, 1)

    return mutate


def _attr(name: str, value: Any) -> Callable[[Parts], None]:
    def mutate(p: Parts) -> None:
        setattr(p, name, value)

    return mutate


def _sd(build: Callable[[Parts], list[Any]]) -> Callable[[Parts], None]:
    def mutate(p: Parts) -> None:
        p.payload["_sd"] = build(p)

    return mutate


def _nest(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def _standard(which: str, spelling: str) -> Callable[[Parts], None]:
    """Spell one part in the standard alphabet ('+', '/') or with '=' padding: the same bytes."""

    def edit(text: str) -> str:
        parts = text.split("~")
        index = {"signature": 0, "disclosure": 1, "kb-signature": -1}[which]
        pieces = parts[index].split(".")
        piece = pieces[-1]
        if spelling != "=" and ("-" if spelling == "+" else "_") in piece:
            pieces[-1] = piece.replace("-" if spelling == "+" else "_", spelling, 1)
        else:
            pieces[-1] = piece + "=" * (-len(piece) % 4 or 4)
        parts[index] = ".".join(pieces)
        return "~".join(parts)

    def mutate(p: Parts) -> None:
        p.post.append(edit)

    return mutate


def _present_all(p: Parts) -> None:
    p.present = list(range(len(p.disclosures)))


MUTATIONS: dict[str, Callable[[Parts], None]] = {
    # The issuer-signed JWT's header.
    "alg-none": _set("header", "alg", "none"),
    "alg-es256": _set("header", "alg", "ES256"),
    "alg-number": _set("header", "alg", 1),
    "typ-legacy": _set("header", "typ", "vc+sd-jwt"),
    "typ-missing": _drop("header", "typ"),
    "kid-number": _set("header", "kid", 7),
    "kid-unknown": _set("header", "kid", "nobody"),
    "kid-missing": _drop("header", "kid"),
    "header-jku": _set("header", "jku", "https://evil.example/keys"),
    "header-crit": _set("header", "crit", ["exp"]),
    "header-nested": _set("header", "x", {"y": [1]}),
    # The payload.
    "sd-alg-other": _set("payload", "_sd_alg", "sha-512"),
    "sd-alg-missing": _drop("payload", "_sd_alg"),
    "sd-alg-nested": _set("payload", "cnf", {"jwk": gen.HOLDER_ED.public_key().public_jwk(), "_sd_alg": "sha-256"}),
    "sd-null": _set("payload", "_sd", []),
    "sd-not-array": _sd(lambda p: "digest"),  # type: ignore[arg-type, return-value]
    "sd-number": _sd(lambda p: sorted(_digest(d) for d in p.encoded()) + [5]),  # type: ignore[operator]
    "sd-duplicate": _sd(lambda p: [_digest(d) for d in p.encoded()] + [_digest(p.encoded()[0])]),
    "sd-duplicate-decoy": _sd(lambda p: [_digest(d) for d in p.encoded()] + ["decoy", "decoy"]),
    "sd-missing-one": _sd(lambda p: [_digest(d) for d in p.encoded()[1:]]),
    "sd-nested": _set("payload", "address", {"_sd": ["x"]}),
    "dots-nested": _set("payload", "list", [{"...": "x"}]),
    "sd-string-value": _set("payload", "note", "_sd"),
    "dots-string-value": _set("payload", "note", "..."),
    "plain-nested": _set("payload", "address", {"country": "DE", "lines": ["a", {"b": None}]}),
    "deep-nesting": _set("payload", "deep", _nest(17)),
    "name-clash": _set("payload", "given_name", "Mallory"),
    "iss-missing": _drop("payload", "iss"),
    "iss-empty": _set("payload", "iss", ""),
    "iss-number": _set("payload", "iss", 1),
    "vct-missing": _drop("payload", "vct"),
    "vct-number": _set("payload", "vct", 5),
    "vct-empty": _set("payload", "vct", ""),
    "exp-past": _set("payload", "exp", gen.NOW - 61),
    "exp-edge": _set("payload", "exp", gen.NOW - 60),
    "exp-float": _set("payload", "exp", float(gen.EXP)),
    "exp-bool": _set("payload", "exp", True),
    "exp-string": _set("payload", "exp", "tomorrow"),
    "nbf-future": _set("payload", "nbf", gen.NOW + 61),
    "nbf-edge": _set("payload", "nbf", gen.NOW + 60),
    "iat-future": _set("payload", "iat", gen.NOW + 61),
    "iat-float": _set("payload", "iat", float(gen.IAT)),
    "iat-missing": _drop("payload", "iat"),
    "iat-string": _set("payload", "iat", "yesterday"),
    "cnf-missing": _drop("payload", "cnf"),
    "cnf-private": _set("payload", "cnf", {"jwk": gen.HOLDER_ED.private_jwk()}),
    "cnf-other-key": _set("payload", "cnf", {"jwk": gen.ATTACKER_ED.public_key().public_jwk()}),
    "cnf-jwk-string": _set("payload", "cnf", {"jwk": "key"}),
    "cnf-x-padded": _set("payload", "cnf", {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": gen.HOLDER_ED.public_key().public_jwk()["x"] + "="}}),
    "status-broken": _set("payload", "status", {"status_list": {"idx": -1, "uri": ""}}),
    "status-ok": _set("payload", "status", {"status_list": {"idx": 3, "uri": gen.STATUS_URI}}),
    "payload-whitespace": _text(',"vct"', ', "vct"'),
    "payload-duplicate": _text('"vct":', '"vct":"urn:other","vct":'),
    "payload-escape": _text('"iss"', '"\\u0069ss"'),
    "payload-float-exponent": _text(f'"iat":{gen.IAT}', f'"iat":{gen.IAT}.0'),
    # The disclosures.
    "disclosure-two-elements": _disclosure(0, _json(["salt-0", "Erika"])),
    "disclosure-four-elements": _disclosure(0, _json(["salt-0", "given_name", "Erika", 1])),
    "disclosure-salt-number": _disclosure(0, _json([1, "given_name", "Erika"])),
    "disclosure-name-number": _disclosure(0, _json(["salt-0", 1, "Erika"])),
    "disclosure-name-sd": _disclosure(0, _json(["salt-0", "_sd", "Erika"])),
    "disclosure-name-dots": _disclosure(0, _json(["salt-0", "...", "Erika"])),
    "disclosure-name-sd-alg": _disclosure(0, _json(["salt-0", "_sd_alg", "Erika"])),
    "disclosure-name-iss": _disclosure(0, _json(["salt-0", "iss", "https://evil.example"])),
    "disclosure-name-exp": _disclosure(0, _json(["salt-0", "exp", 1])),
    "disclosure-name-clash": _disclosure(1, _json(["salt-1", "given_name", "Mallory"])),
    "disclosure-value-object": _disclosure(0, _json(["salt-0", "given_name", {"a": [1, {"b": 2}]}])),
    "disclosure-value-nested-sd": _disclosure(0, _json(["salt-0", "given_name", {"_sd": ["x"]}])),
    "disclosure-value-dots": _disclosure(0, _json(["salt-0", "given_name", [{"...": "x"}]])),
    "disclosure-value-deep": _disclosure(0, _json(["salt-0", "given_name", _nest(16)])),
    "disclosure-value-brackets-in-string": _disclosure(0, _json(["salt-0", "given_name", "[[[[[[[[[[[[[[[[[[{{{{"])),
    "disclosure-escape": _disclosure(0, '["salt-0", "given_name", "\\u00e9"]'),
    "disclosure-lone-surrogate": _disclosure(0, '["salt-0", "given_name", "\\ud800"]'),
    "disclosure-whitespace": _disclosure(0, ' ["salt-0", "given_name", "Erika"]'),
    "disclosure-duplicate-member": _disclosure(0, '["salt-0", "given_name", {"a": 1, "a": 2}]'),
    "disclosure-nan": _disclosure(0, '["salt-0", "given_name", NaN]'),
    "disclosure-not-array": _disclosure(0, '{"salt": "x"}'),
    "disclosure-twice": _attr("present", [0, 0, 1]),
    "disclosure-unreferenced": _sd(lambda p: [_digest(d) for d in p.encoded()[:2]]),
    "disclosure-all": _present_all,
    "disclosure-none": _attr("present", []),
    # The Key Binding JWT.
    "respell-disclosure": _attr("respell", "disclosure"),
    "respell-payload": _attr("respell", "payload"),
    "respell-signature": _attr("respell", "signature"),
    "respell-kb-payload": _attr("respell", "kb-payload"),
    "respell-kb-signature": _attr("respell", "kb-signature"),
    "respell-cnf-x": _set("payload", "cnf", {"jwk": {**gen.HOLDER_ED.public_key().public_jwk(), "x": gen.respell_last_char(gen.HOLDER_ED.public_key().public_jwk()["x"])}}),
    **{
        f"standard-{which}-{spelling}": _standard(which, spelling)
        for which in ("signature", "disclosure", "kb-signature")
        for spelling in "+/="
    },
    "kb-missing": _attr("with_kb", False),
    "kb-aud": _set("kb", "aud", "https://other.example"),
    "kb-aud-list": _set("kb", "aud", [gen.AUD]),
    "kb-aud-non-ascii": _set("kb", "aud", "https://v\u00e9rifier.example"),
    "kb-nonce": _set("kb", "nonce", "other"),
    "kb-nonce-missing": _drop("kb", "nonce"),
    "kb-iat-old": _set("kb", "iat", gen.NOW - 361),
    "kb-iat-edge": _set("kb", "iat", gen.NOW - 360),
    "kb-iat-future": _set("kb", "iat", gen.NOW + 61),
    "kb-iat-bool": _set("kb", "iat", True),
    "kb-iat-float": _set("kb", "iat", float(gen.NOW)),
    "kb-sd-hash": _attr("sd_hash_override", "A" * 43),
    "kb-sd-hash-number": _set("kb", "sd_hash", 5),
    "kb-typ": _set("kb_header", "typ", "jwt"),
    "kb-alg-none": _set("kb_header", "alg", "none"),
    "kb-alg-es256": _set("kb_header", "alg", "ES256"),
    "kb-alg-eddsa": _set("kb_header", "alg", "EdDSA"),
    "kb-alg-unknown": _set("kb_header", "alg", "RS256"),
    "kb-jwk-header": _set("kb_header", "jwk", {"kty": "OKP"}),
    "kb-signed-by-attacker": _attr("holder", gen.ATTACKER_ED),
}


@SETTINGS
@given(
    st.sampled_from(["ed25519", "p256"]),
    st.lists(st.sampled_from(sorted(MUTATIONS)), max_size=3),
    st.sampled_from([sdjwt.DEFAULT_LIMITS, sdjwt.Limits(max_depth=4)]),
    st.sampled_from([None, "valid", "revoked", "broken"]),
)
def test_rebuilt_presentations_same_outcome(holder: str, mutations: list[str], limits: sdjwt.Limits, status: str | None) -> None:
    parts = Parts(_holder(holder))
    for name in mutations:
        MUTATIONS[name](parts)
    compare(parts.build(), limits=limits, status=None if status is None else _status_check(status))


@pytest.mark.parametrize("name", sorted(MUTATIONS))
@pytest.mark.parametrize("holder", ["ed25519", "p256"])
@pytest.mark.parametrize("status", [None, "valid"])
def test_each_mutation_same_outcome(name: str, holder: str, status: str | None) -> None:
    parts = Parts(_holder(holder))
    MUTATIONS[name](parts)
    compare(parts.build(), status=None if status is None else _status_check(status))


# ---------------------------------------------------------------------------
# The fast path does run: the common case never leaves it.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("holder", ["ed25519", "p256"])
def test_common_case_takes_the_fast_path(holder: str) -> None:
    assert compare(Parts(_holder(holder)).build())


@pytest.mark.parametrize("holder", ["ed25519", "p256"])
def test_common_case_without_key_binding_takes_the_fast_path(holder: str) -> None:
    parts = Parts(_holder(holder))
    parts.with_kb = False
    assert compare(parts.build(), require_key_binding=False, audience=None, nonce=None)


@pytest.mark.parametrize("holder", ["ed25519", "p256"])
def test_recursive_and_array_disclosures_take_the_fast_path(holder: str) -> None:
    """A PID-shaped credential: a disclosable object with disclosable members, array elements."""
    key = _holder(holder)
    claims = {"given_name": "Mei", "address": {"locality": "Shenzhen", "country": "CN", "street": "1 Shennan Road"},
              "nationalities": ["CN", "HK"], "age_equal_or_over": {"18": True, "65": False}}
    text = sdjwt.issue(
        claims,
        disclosable=[("given_name",), ("address",), ("address", "locality"), ("address", "street"), ("nationalities", None),
                     ("age_equal_or_over",), ("age_equal_or_over", "18"), ("age_equal_or_over", "65")],
        issuer_key=gen.ISSUER_ED, kid=gen.KID_ED, iss=gen.ISS, vct=gen.VCT, iat=gen.IAT, random=gen.SeededRandom("pid"),
        holder_jwk=key.public_key().public_jwk(), decoys=2,
    ).serialize()
    parsed = sdjwt.SDJWT.parse(text)
    for wanted in ([("address", "locality"), ("age_equal_or_over", "18")], [("nationalities", 0)],
                   [("address", "locality"), ("nationalities", 1), ("given_name",)]):
        chosen = parsed.select(wanted)
        body = chosen.without_key_binding()
        kb = {"iat": gen.NOW, "aud": gen.AUD, "nonce": gen.NONCE, "sd_hash": sdjwt.sd_hash(body)}
        presentation = body + gen.jws({"alg": key.alg, "typ": "kb+jwt"}, kb, key)
        assert compare(presentation), wanted
        result = sdjwt.verify(presentation, issuer_key=_lookup, algorithms=["EdDSA"], now=gen.NOW, audience=gen.AUD,
                              nonce=gen.NONCE)
        assert "street" not in result.claims.get("address", {}) and "65" not in result.claims.get("age_equal_or_over", {})
    # The same disclosure sent twice, and one the issuer never referenced, still end on the strict path's errors.
    chosen = parsed.select([("address", "locality")])
    doubled = sdjwt.SDJWT(chosen.jwt, chosen.disclosures + chosen.disclosures[-1:]).without_key_binding()
    assert not compare(doubled, require_key_binding=False, audience=None, nonce=None)


def test_status_callback_runs_once_and_its_error_propagates() -> None:
    parts = Parts(gen.HOLDER_ED)
    MUTATIONS["status-ok"](parts)
    calls: list[sdjwt.StatusReference] = []

    def revoked(reference: sdjwt.StatusReference) -> None:
        calls.append(reference)
        raise sdjwt.StatusRevoked("the credential was revoked by its issuer")

    with pytest.raises(sdjwt.StatusRevoked, match="revoked by its issuer"):
        sdjwt.verify(parts.build(), issuer_key=_lookup, algorithms=["EdDSA"], now=gen.NOW, audience=gen.AUD,
                     nonce=gen.NONCE, status=revoked)
    assert calls == [sdjwt.StatusReference(3, gen.STATUS_URI)]


@pytest.mark.parametrize("which", ["issuer", "holder"])
def test_a_forged_signature_is_verified_once(which: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The strict path reuses the fast path's verdicts: a forgery costs no second verification."""
    parts = Parts(gen.HOLDER_ED)
    if which == "issuer":
        parts.issuer = gen.ATTACKER_ED
        error: type[Exception] = sdjwt.SignatureInvalid
    else:
        parts.holder = gen.ATTACKER_ED
        error = sdjwt.KeyBindingError
    presentation = parts.build()
    opened: list[bytes] = []
    real_open = sdjwt.keys._crypto_sign_open

    def counting_open(signed: bytes, key: bytes) -> bytes:
        opened.append(key)
        return real_open(signed, key)

    monkeypatch.setattr("sdjwt.keys._crypto_sign_open", counting_open)
    monkeypatch.setattr("sdjwt.verification._crypto_sign_open", counting_open)
    with pytest.raises(error, match="signature does not verify"):
        sdjwt.verify(presentation, issuer_key=_lookup, algorithms=["EdDSA"], now=gen.NOW, audience=gen.AUD, nonce=gen.NONCE)
    assert len(opened) == (1 if which == "issuer" else 2)


def test_non_string_presentation_same_error() -> None:
    compare(b"not a string")  # type: ignore[arg-type]
    compare(None)  # type: ignore[arg-type]
