"""A structure-aware mutation engine on ``random.Random`` with a fixed seed.

Two kinds of mutation are mixed:

* byte level: flips, insertions, deletions, interesting bytes, chunk copies,
  truncation, and splices between corpus items;
* structure level: the input is recognised (JSON, compact JWS, SD-JWT, signed
  note, URL with a query, base64 holding JSON, a wallet envelope, a PNG), one
  field deep inside it is mutated (type confusion, boundary numbers, deleted
  and added members, deep nesting, long and non-UTF-8-safe strings), and the
  layers are put back together: re-encoded, re-canonicalised (JCS for ledger
  entries), **re-signed** with the key its verifier trusts (issuer, holder,
  verifier, log, witness, ledger authors: all from ``fuzz/world.py``), with
  digests, ``sd_hash`` and PNG CRCs recomputed where they bind the changed
  part, and wallet contents re-sealed. A mutation therefore reaches the code
  behind the signature check instead of dying at it.

A cheap form of feedback replaces coverage when atheris is not used: an input
whose outcome (the error class and the start of its message, or success) has
not been seen before joins the working corpus, so later mutations start from
inputs that already reach further.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import struct
import urllib.parse
import zlib
from typing import Any, Callable

from . import world as W

__all__ = ["Mutator"]

_INTS = [0, 1, -1, 2, 7, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32, 2**53 - 1, 2**53, 2**63 - 1, 2**63,
         2**64, -2**63, 10**30, W.T0, W.T0 + 10**9, -W.T0]
_FLOATS = [0.5, -0.0, 1e308, 1e-308, 1.0, 3.0, 1.8e9]
_STRINGS = ["", " ", "a", "A" * 300, "A" * 70000, "\u00e9", "\u202e", "\x00", "\x7f", "\\", "%00", "~", ".", "#",
            "did:civic:", "did:key:z6Mk", "https://", "http://127.0.0.1/", "https://a/../b", "EdDSA", "ES256", "none",
            "sha-256", "dc+sd-jwt", "kb+jwt", "\ud800", "\udfff", "\U0001f600", "0", "-1", "1e400", "NaN", "null",
            "eyJ", "=", "==", "\n", "\r\n", "\u2014 ", "\t"]
_KEYS = ["alg", "typ", "kid", "jwk", "crit", "x5c", "iss", "iat", "exp", "nbf", "vct", "cnf", "_sd", "_sd_alg", "...",
         "status", "status_list", "idx", "uri", "bits", "lst", "sub", "ttl", "aud", "nonce", "sd_hash", "client_id",
         "response_uri", "dcql_query", "credentials", "claims", "path", "meta", "vct_values", "id", "format",
         "credential_sets", "options", "client_metadata", "vp_formats_supported", "purpose", "state", "grants",
         "tx_code", "length", "input_mode", "credential_issuer", "credential_configuration_ids", "proofs", "jwt",
         "proof", "seq", "entry", "inclusion", "witnessed", "checkpoint", "consistency", "old_size", "body", "kind",
         "author", "time", "prev", "sig", "v", "keys", "services", "nextKeyHashes", "scid", "copies", "history",
         "version", "kdf", "box", "salt", "opslimit", "memlimit", "format", "didResolutionMetadata", "x", "y", "crv",
         "kty", "d", "__proto__", ""]
_BYTES = [b"\x00", b"\xff", b"\x80", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"~", b".", b"\n", b"{", b"[",
          b"\"", b"\\u0000", b"\\ud800", b"=", b"+", b"/", b"%", b"&", b"#", b"?", b"\xe2\x80\x94 ", b"\n\n"]


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Mutator:
    """Mutates inputs of one harness; deterministic for a given seed and corpus."""

    def __init__(self, corpus: list[bytes], codec: str, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.corpus = list(corpus) or [b""]
        self.codec = codec
        self.depth = 0
        w = W.world()
        self._w = w
        # Which key re-signs a JWS, by its typ (what each verifier trusts).
        self.jws_keys: dict[Any, Any] = {
            "dc+sd-jwt": w.issuer_key, "statuslist+jwt": w.issuer_key, "kb+jwt": w.holder_key,
            "oauth-authz-req+jwt": w.verifier_key, "openid4vci-proof+jwt": w.holder_key,
        }
        self.entry_keys = {k: v for k, v in w.ledger["keys"].items()}

    # --- the entry point -----------------------------------------------------------------------

    def mutate(self, data: bytes) -> bytes:
        rng = self.rng
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
            r = rng.random()
            if r < 0.45:
                data = self.structured(data)
            elif r < 0.55:
                data = self.splice(data)
            else:
                data = self.bytes_(data)
        return data[:200_000]

    def structured(self, data: bytes) -> bytes:
        try:
            if self.codec == "entry" and self.rng.random() < 0.8:
                return self.entry_bytes(data)
            if self.codec == "wallet" and data[:1] == b"{":
                return self.wallet(data)
            if self.codec == "bytes" and data[:8] == b"\x89PNG\r\n\x1a\n":
                return self.png(data)
            if self.codec == "kbjwt":
                return self.jws_text(data.decode("utf-8"), "kb+jwt").encode("utf-8", "surrogatepass")
            return self.text(data.decode("utf-8")).encode("utf-8", "surrogatepass")
        except Exception:  # The input no longer has the structure (or a builder refused): a byte mutation instead.
            return self.bytes_(data)

    # --- byte level ----------------------------------------------------------------------------

    def bytes_(self, data: bytes) -> bytes:
        rng = self.rng
        b = bytearray(data)
        op = rng.randrange(9)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 2:
            b[pos:pos] = rng.choice(_BYTES)
        elif op == 3 and b:
            end = min(len(b), pos + rng.choice((1, 1, 2, 4, 16, 64)))
            del b[pos:end]
        elif op == 4 and b:
            start = rng.randrange(len(b))
            chunk = b[start:start + rng.choice((1, 4, 16, 256))]
            b[pos:pos] = chunk * rng.choice((1, 2, 8))
        elif op == 5:
            del b[pos:]
        elif op == 6 and b:
            i = rng.randrange(len(b))
            b[i] = rng.choice(b"~.{}[]\",:-_=+/ \n0aAz\x00\xff")
        elif op == 7:
            b[pos:pos] = bytes(rng.randrange(32, 127) for _ in range(rng.randrange(1, 8)))
        else:
            b = bytearray(self.splice(bytes(b)))
        return bytes(b)

    def splice(self, data: bytes) -> bytes:
        other = self.rng.choice(self.corpus)
        if not data or not other:
            return data + other
        return data[: self.rng.randrange(len(data) + 1)] + other[self.rng.randrange(len(other) + 1):]

    # --- text level: recognise the format, mutate inside it, put it back together ----------------

    def text(self, s: str) -> str:
        rng = self.rng
        self.depth += 1
        try:
            if self.depth > 6:
                return self.string(s)
            head = s[:4]
            if head.startswith(("{", "[")):
                return _dumps(self.json_value(json.loads(s)))
            if head.startswith("eyJ") and "~" in s:
                return self.sdjwt(s)
            if head.startswith("eyJ") and s.count(".") == 2:
                return self.jws_text(s, None)
            if "\n\n\u2014 " in s or s.startswith("\u2014 "):
                return self.note(s)
            if s.startswith("old "):
                return self.add_checkpoint(s)
            if "://" in s[:40] and "?" in s:
                return self.url(s)
            if s.startswith("tile/"):
                return self.tile_path(s)
            if len(s) > 16 and rng.random() < 0.7:
                inner = self.b64_inner(s)
                if inner is not None:
                    return inner
            return self.string(s)
        finally:
            self.depth -= 1

    def string(self, s: str) -> str:
        rng = self.rng
        op = rng.randrange(6)
        if op == 0 or not s:
            return rng.choice(_STRINGS)
        i = rng.randrange(len(s))
        if op == 1:
            return s[:i] + rng.choice(_STRINGS) + s[i:]
        if op == 2:
            return s[:i] + s[i + 1:]
        if op == 3:
            return s[:i] + chr(ord(s[i]) ^ (1 << rng.randrange(7))) + s[i + 1:]
        if op == 4:
            return s * rng.choice((2, 3))
        return s[:i]

    def b64_inner(self, s: str) -> str | None:
        """A base64 (standard or url) string holding JSON: mutate the JSON and re-encode it the same way."""
        url = "-" in s or "_" in s
        try:
            raw = _unb64u(s) if url else base64.b64decode(s, validate=True)
            value = json.loads(raw)
        except (ValueError, binascii.Error):
            return None
        if isinstance(value, dict) and "sig" in value and "author" in value:
            out = self.entry_bytes(raw)
        else:
            out = _dumps(self.json_value(value)).encode()
        return _b64u(out) if url else base64.b64encode(out).decode("ascii")

    # --- JSON ------------------------------------------------------------------------------------

    def interesting(self) -> Any:
        rng = self.rng
        op = rng.randrange(10)
        if op < 3:
            return rng.choice(_INTS)
        if op == 3:
            return rng.choice(_FLOATS)
        if op < 6:
            return rng.choice(_STRINGS)
        if op == 6:
            return rng.choice([None, True, False])
        if op == 7:
            return rng.choice([{}, [], [None], {"": None}, [[]], {"_sd": []}, {"...": "x"}])
        if op == 8:
            depth = rng.choice((17, 64, 1100, 5000))
            nested: Any = 0
            for _ in range(depth):
                nested = [nested] if rng.random() < 0.5 else {"a": nested}
            return nested
        return rng.choice(_KEYS)

    def json_value(self, value: Any) -> Any:
        """Mutate one randomly chosen node of a JSON tree (returns the new tree)."""
        rng = self.rng
        nodes: list[tuple[Any, Any]] = []  # (container, key)

        def walk(v: Any, depth: int) -> None:
            if depth > 24 or len(nodes) > 400:
                return
            if isinstance(v, dict):
                for k in list(v):
                    nodes.append((v, k))
                    walk(v[k], depth + 1)
            elif isinstance(v, list):
                for i in range(len(v)):
                    nodes.append((v, i))
                    walk(v[i], depth + 1)

        walk(value, 0)
        if not nodes or rng.random() < 0.05:
            return self.interesting() if rng.random() < 0.5 else value
        container, k = rng.choice(nodes)
        child = container[k]
        op = rng.randrange(10)
        if op < 3 and isinstance(child, str):
            container[k] = self.text(child)
        elif op < 3 and isinstance(child, (int, float)) and not isinstance(child, bool):
            container[k] = rng.choice((child + 1, child - 1, -child, child * 2 ** 32, float(child), rng.choice(_INTS)))
        elif op == 3:
            if isinstance(container, dict):
                del container[k]
            else:
                del container[k]
        elif op == 4:
            target = container if rng.random() < 0.5 else (child if isinstance(child, (dict, list)) else container)
            if isinstance(target, dict):
                target[rng.choice(_KEYS)] = self.interesting() if rng.random() < 0.7 else child
            else:
                target.insert(rng.randrange(len(target) + 1), self.interesting() if rng.random() < 0.5 else child)
        elif op == 5 and isinstance(container, list):
            container.append(child)
        elif op == 6 and isinstance(container, dict):
            # Rename a member (a near-miss of a name the parser looks for).
            container[self.string(str(k)) if rng.random() < 0.5 else rng.choice(_KEYS)] = container.pop(k)
        elif op == 7:
            container[k] = [child] if rng.random() < 0.5 else {"a": child}
        else:
            container[k] = self.interesting()
        return value

    # --- JOSE ------------------------------------------------------------------------------------

    def sign_parts(self, header: Any, payload: Any, typ_hint: str | None) -> str:
        """Re-serialise and re-sign with the key the verifier of this typ trusts (the alg field is left alone)."""
        h = _b64u(_dumps(header).encode("utf-8", "surrogatepass"))
        p = _b64u(_dumps(payload).encode("utf-8", "surrogatepass"))
        typ = header.get("typ") if isinstance(header, dict) else None
        k = self.jws_keys.get(typ) or self.jws_keys.get(typ_hint) or self._w.issuer_key
        if isinstance(header, dict) and isinstance(header.get("jwk"), dict) and self.rng.random() < 0.2:
            k = self._w.issuer_key
        return f"{h}.{p}.{_b64u(k.sign((h + '.' + p).encode('ascii')))}"

    def jws_text(self, s: str, typ_hint: str | None, sd_hash_for: str | None = None) -> str:
        rng = self.rng
        parts = s.split(".")
        if len(parts) != 3:
            return self.string(s)
        op = rng.random()
        if op < 0.1:
            return ".".join(parts[:2]) + "." + self.string(parts[2])
        if op < 0.2:
            return self.string(parts[0]) + "." + ".".join(parts[1:])
        header = json.loads(_unb64u(parts[0]))
        payload = json.loads(_unb64u(parts[1]))
        if rng.random() < 0.25:
            header = self.json_value(header)
        else:
            payload = self.json_value(payload)
        if sd_hash_for is not None and isinstance(payload, dict) and rng.random() < 0.7:
            payload["sd_hash"] = _b64u(hashlib.sha256(sd_hash_for.encode("ascii", "surrogatepass")).digest())
        if rng.random() < 0.9:
            return self.sign_parts(header, payload, typ_hint)
        return f"{_b64u(_dumps(header).encode('utf-8', 'surrogatepass'))}.{_b64u(_dumps(payload).encode('utf-8', 'surrogatepass'))}.{parts[2]}"

    def sdjwt(self, s: str) -> str:
        """``<JWT>~<D1>~...~<Dn>~[<KB>]``: mutate one part, keeping digests, signatures and sd_hash in step."""
        rng = self.rng
        parts = s.split("~")
        jwt, disclosures, kb = parts[0], parts[1:-1], parts[-1]
        op = rng.randrange(8)
        if op == 0:
            jwt = self.jws_text(jwt, "dc+sd-jwt")
        elif op in (1, 2) and disclosures:
            i = rng.randrange(len(disclosures))
            old = disclosures[i]
            try:
                value = json.loads(_unb64u(old))
                new = _b64u(_dumps(self.json_value(value)).encode("utf-8", "surrogatepass"))
            except (ValueError, binascii.Error):
                new = self.string(old)
            disclosures[i] = new
            if op == 2:
                # Put the new disclosure's digest where the old one was, and re-sign: the issuer vouches for it.
                jwt = self._replace_digest(jwt, old, new)
        elif op == 3 and disclosures:
            del disclosures[rng.randrange(len(disclosures))]
        elif op == 4 and disclosures:
            disclosures.insert(rng.randrange(len(disclosures) + 1), rng.choice(disclosures))
        elif op == 5 and disclosures:
            rng.shuffle(disclosures)
        elif op == 6 and kb:
            body = "~".join([jwt, *disclosures]) + "~"
            kb = self.jws_text(kb, "kb+jwt", sd_hash_for=body)
            return body + kb
        else:
            kb = self.string(kb) if kb else rng.choice(["", self._w.present().rsplit("~", 1)[1]])
        body = "~".join([jwt, *disclosures]) + "~"
        if kb and rng.random() < 0.5:
            # Keep the key binding valid for the new body, so the verifier gets past sd_hash.
            try:
                kbp = kb.split(".")
                header, payload = json.loads(_unb64u(kbp[0])), json.loads(_unb64u(kbp[1]))
                payload["sd_hash"] = _b64u(hashlib.sha256(body.encode("ascii", "surrogatepass")).digest())
                kb = self.sign_parts(header, payload, "kb+jwt")
            except (ValueError, TypeError, IndexError, binascii.Error, UnicodeError):
                pass
        return body + kb

    def _replace_digest(self, jwt: str, old: str, new: str) -> str:
        parts = jwt.split(".")
        header = json.loads(_unb64u(parts[0]))
        payload_text = _unb64u(parts[1]).decode("utf-8")
        old_d = _b64u(hashlib.sha256(old.encode("ascii")).digest())
        new_d = _b64u(hashlib.sha256(new.encode("ascii", "surrogatepass")).digest())
        payload = json.loads(payload_text.replace(old_d, new_d))
        return self.sign_parts(header, payload, "dc+sd-jwt")

    # --- URLs ------------------------------------------------------------------------------------

    def url(self, s: str) -> str:
        rng = self.rng
        base, _, query = s.partition("?")
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        op = rng.randrange(5)
        if op == 0 or not pairs:
            return self.string(base) + "?" + query
        if op == 1:
            pairs.append(rng.choice(pairs) if rng.random() < 0.5 else (rng.choice(["request", "request_uri_method",
                                                                                 "client_id", "credential_offer"]),
                                                                      rng.choice(_STRINGS)))
        elif op == 2:
            del pairs[rng.randrange(len(pairs))]
        else:
            i = rng.randrange(len(pairs))
            name, value = pairs[i]
            pairs[i] = (name, self.text(value))
        return base + "?" + urllib.parse.urlencode(pairs)

    # --- registry --------------------------------------------------------------------------------

    def entry_bytes(self, raw: bytes) -> bytes:
        """A ledger entry: mutate a member, re-canonicalise (JCS) and re-sign with its author's key."""
        from registry import jcs
        from registry.entry import ENTRY_DOMAIN

        value = json.loads(raw)
        if not isinstance(value, dict):
            return _dumps(self.json_value(value)).encode()
        value = self.json_value(value)
        if not isinstance(value, dict):
            return _dumps(value).encode()
        author = value.get("author")
        k = self.entry_keys.get(author) if isinstance(author, str) else None
        if k is None:
            k = self.rng.choice(list(self.entry_keys.values()))
        unsigned = {m: v for m, v in value.items() if m != "sig"}
        try:
            value["sig"] = _b64u(k.sign(ENTRY_DOMAIN + b"\x00" + jcs.dumps(unsigned)))
            return bytes(jcs.dumps(value))
        except Exception:  # JCS cannot represent the mutated value: send it as plain JSON.
            return _dumps(value).encode("utf-8", "surrogatepass")

    def note(self, s: str) -> str:
        """A signed note: mutate the text (origin, size, root, extensions) and re-sign by log and witness."""
        rng = self.rng
        split = s.rfind("\n\n")
        text, sigs = s[: split + 1], s[split + 2:]
        op = rng.randrange(4)
        if op == 0:
            lines = sigs.split("\n")
            i = rng.randrange(len(lines))
            lines[i] = self.string(lines[i])
            return text + "\n" + "\n".join(lines)
        lines = text[:-1].split("\n") if text.endswith("\n") else text.split("\n")
        i = rng.randrange(len(lines) + 1)
        if i == len(lines) or op == 1:
            lines.insert(i, rng.choice(_STRINGS) if rng.random() < 0.5 else self.string("ext"))
        elif i == 1:
            lines[i] = str(rng.choice(_INTS)) if rng.random() < 0.5 else self.string(lines[i])
        elif i == 2 and rng.random() < 0.5:
            lines[i] = base64.b64encode(bytes(rng.randrange(256) for _ in range(rng.choice((31, 32, 32, 33))))).decode()
        else:
            lines[i] = self.string(lines[i])
        new_text = "\n".join(lines) + "\n"
        if rng.random() < 0.8:
            try:
                return self._w.sign_note(new_text, rng.choice(_INTS[:15]))
            except Exception:  # The builder refuses the text: send it unsigned-by-us.
                pass
        return new_text + "\n" + sigs

    def add_checkpoint(self, s: str) -> str:
        rng = self.rng
        head, _, note = s.partition("\n\n")
        lines = head.split("\n")
        op = rng.randrange(4)
        if op == 0:
            lines[0] = "old " + str(rng.choice(_INTS))
        elif op == 1 and len(lines) > 1:
            i = rng.randrange(1, len(lines))
            lines[i] = self.string(lines[i]) if rng.random() < 0.5 else base64.b64encode(bytes(32)).decode()
        elif op == 2:
            lines.insert(rng.randrange(1, len(lines) + 1), lines[-1])
        else:
            note = self.note(note)
        return "\n".join(lines) + "\n\n" + note

    def tile_path(self, s: str) -> str:
        rng = self.rng
        parts = s.split("/")
        i = rng.randrange(len(parts))
        parts[i] = rng.choice(["x000", "000", "x1000", "999", "entries", "0", "63", "64", "1.p", "256", "-1", "",
                               "00", "x", "255"]) if rng.random() < 0.6 else self.string(parts[i])
        return "/".join(parts)

    # --- wallet files ----------------------------------------------------------------------------

    def wallet(self, data: bytes) -> bytes:
        """Mutate the envelope, or the sealed contents (decrypt with the corpus key, mutate, re-seal)."""
        import nacl.secret

        envelope = json.loads(data)
        if self.rng.random() < 0.4 or not isinstance(envelope, dict) or not isinstance(envelope.get("box"), str):
            return _dumps(self.json_value(envelope)).encode("utf-8", "surrogatepass")
        key, _ = self._w.wallet_key
        box = nacl.secret.SecretBox(key)
        plaintext = box.decrypt(_unb64u(envelope["box"]))
        contents = json.loads(plaintext)
        mutated = _dumps(self.json_value(contents)).encode("utf-8", "surrogatepass")
        if self.rng.random() < 0.1:
            mutated = self.bytes_(mutated)
        envelope["box"] = _b64u(bytes(box.encrypt(mutated, bytes(24))))
        return _dumps(envelope).encode()

    # --- PNG -------------------------------------------------------------------------------------

    def png(self, data: bytes) -> bytes:
        """Mutate one chunk's data (or its length or type) and fix its CRC, so the decoder reads past it."""
        rng = self.rng
        chunks: list[list[bytes]] = []
        pos = 8
        while pos + 12 <= len(data):
            (length,) = struct.unpack(">I", data[pos:pos + 4])
            kind = data[pos + 4:pos + 8]
            body = data[pos + 8:pos + 8 + length]
            chunks.append([kind, body])
            pos += 12 + length
        if not chunks:
            return self.bytes_(data)
        i = rng.randrange(len(chunks))
        op = rng.randrange(5)
        if op == 0:
            chunks[i][1] = self.bytes_(chunks[i][1])
        elif op == 1 and chunks[i][0] == b"IDAT":
            raw = bytearray(zlib.decompress(chunks[i][1]))
            for _ in range(rng.randrange(1, 16)):
                if raw:
                    raw[rng.randrange(len(raw))] = rng.randrange(256)
            chunks[i][1] = zlib.compress(bytes(raw))
        elif op == 2 and chunks[i][0] == b"IHDR" and len(chunks[i][1]) == 13:
            ihdr = bytearray(chunks[i][1])
            field = rng.choice(((0, 4), (4, 4), (8, 1), (9, 1), (10, 1), (11, 1), (12, 1)))
            value = rng.choice((0, 1, 2, 3, 4, 6, 8, 16, 255, 65535, 2**31 - 1, 2**32 - 1))
            ihdr[field[0]:field[0] + field[1]] = (value % (256 ** field[1])).to_bytes(field[1], "big")
            chunks[i][1] = bytes(ihdr)
        elif op == 3:
            chunks.insert(i, [rng.choice([b"tEXt", b"zTXt", b"iCCP", b"PLTE", b"tRNS", b"gAMA", b"IDAT", b"IEND",
                                          b"pHYs", b"sBIT", b"acTL", b"eXIf"]), self.bytes_(b"abc\x00def")])
        else:
            del chunks[i]
        out = bytearray(data[:8])
        for kind, body in chunks:
            out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        return bytes(out)


def mutator_for(corpus: list[bytes], codec: str, seed: int) -> Callable[[bytes], bytes]:
    return Mutator(corpus, codec, seed).mutate
