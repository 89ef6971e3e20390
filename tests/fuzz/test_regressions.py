"""Regressions for the inputs the fuzz harnesses (fuzz/) found escaping as untyped exceptions.

Each test is named for the input class; docs/hardening/fuzzing.md lists the
finding, the harness that found it and the fix.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fuzz import world as W  # noqa: E402


def _png_with_chunk(kind: bytes, body: bytes, *, after_data: bool = False) -> bytes:
    """A real QR PNG with one extra chunk (correct CRC) inserted after IHDR, or just before IEND."""
    from wallet.qr import make_qr

    out = io.BytesIO()
    make_qr("openid4vp://?client_id=x").make_image(fill_color="black", back_color="white").save(out)
    png = out.getvalue()
    ihdr_end = 8 + 12 + struct.unpack(">I", png[8:12])[0]
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    if after_data:
        return png[:-12] + chunk + png[-12:]  # IEND is the last 12 bytes.
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def test_qr_upload_png_with_unknown_ztxt_compression_is_response_malformed() -> None:
    # Pillow raises SyntaxError for it; verifier/api.py decode_qr let it escape (a 500 on /scan).
    from verifier.api import decode_qr
    from verifier.errors import ResponseMalformed

    with pytest.raises(ResponseMalformed, match="not a readable PNG"):
        decode_qr(_png_with_chunk(b"zTXt", b"comment\x00\x64xyz"))


def test_qr_png_with_truncated_iccp_after_the_image_data_is_refused_in_both_roles(tmp_path: Path) -> None:
    # Finding 9 (qr_image): Pillow's iCCP reader indexes past a profile name that ends the chunk,
    # an IndexError raised while loading (after the pixels): a 500 on the counter's /scan upload
    # and a traceback from `civicid wallet receive --qr`.
    from verifier.api import decode_qr
    from verifier.errors import ResponseMalformed
    from wallet.errors import QRDecodeError
    from wallet.qr import decode_image

    png = _png_with_chunk(b"iCCP", b"icc\x00", after_data=True)
    with pytest.raises(ResponseMalformed, match="not a readable PNG"):
        decode_qr(png)
    (tmp_path / "frame.png").write_bytes(png)
    with pytest.raises(QRDecodeError, match="not a readable image"):
        decode_image(tmp_path / "frame.png")
    # The same chunk before the image data was already refused; a clean QR still decodes.
    with pytest.raises(ResponseMalformed):
        decode_qr(_png_with_chunk(b"iCCP", b"icc\x00"))
    assert decode_qr(_png_with_chunk(b"tEXt", b"k\x00v", after_data=True)) == "openid4vp://?client_id=x"


def test_qr_png_declaring_a_hundred_million_pixels_is_refused_by_our_limit_without_a_warning(tmp_path: Path) -> None:
    # Seen in the qr_image runs: Pillow warns (DecompressionBombWarning) at open for 89-179 million
    # pixels, before our own, lower limit refuses the picture; the warning reached the logs.
    import warnings

    from verifier.api import decode_qr
    from verifier.errors import ResponseMalformed
    from wallet.errors import QRDecodeError
    from wallet.qr import decode_image

    png = bytearray(_png_with_chunk(b"tEXt", b"k\x00v"))
    ihdr = bytearray(png[16:29])  # IHDR data: width, height, then depth, colour type, ...
    ihdr[0:8] = struct.pack(">II", 10_000, 10_000)
    png[16:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)) & 0xFFFFFFFF)
    (tmp_path / "big.png").write_bytes(png)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(ResponseMalformed, match="too many pixels"):
            decode_qr(bytes(png))
        with pytest.raises(QRDecodeError, match="too many pixels"):
            decode_image(tmp_path / "big.png")
    assert not [w for w in seen if "DecompressionBomb" in type(w.message).__name__], [str(w.message) for w in seen]


def test_registry_entry_with_list_kind_is_invalid_entry() -> None:
    # `value["kind"] not in KINDS` hashed a list: TypeError out of Entry.from_bytes (POST /entries).
    from registry.entry import Entry
    from registry.errors import InvalidEntry

    value = json.loads(W.world().ledger["entries"][0].raw)
    value["kind"] = ["did.create"]
    with pytest.raises(InvalidEntry, match="'kind' must be one of"):
        Entry.from_bytes(json.dumps(value).encode())


def test_signed_note_text_with_lone_surrogate_is_malformed_note() -> None:
    # A checkpoint note inside a JSON bundle may decode to a str with "\ud800"; .encode("utf-8") raised.
    from registry.checkpoint import SignedNote
    from registry.errors import MalformedNote

    note = W.world().bundle["note4"]
    with pytest.raises(MalformedNote, match="not valid UTF-8"):
        SignedNote.from_text(note.replace(W.ORIGIN, W.ORIGIN + "\ud800"))


def test_bundle_with_lone_surrogate_in_checkpoint_is_registry_error() -> None:
    from registry.bundle import Bundle
    from registry.errors import RegistryError

    bundle = json.loads(json.dumps(W.world().bundle["json"]))
    bundle["checkpoint"] = bundle["checkpoint"].replace("\n\n", "\ud800\n\n")
    with pytest.raises(RegistryError):
        Bundle.from_json(bundle).verify(W.world().trust_policy, now=W.T0)


def _client(answer: bytes) -> object:
    from registry.client import RegistryClient

    return RegistryClient("https://registry.example", W.world().trust_policy, clock=lambda: float(W.T0),
                          fetch=lambda url, body: (200, answer))


@pytest.mark.parametrize(
    "answer",
    [
        b'{"didDocument": {}}',  # no didResolutionMetadata: KeyError
        b'{"didResolutionMetadata": "x"}',  # a string where an object belongs: TypeError
        b"[1, 2]",  # a list: TypeError
        b"[" * 100_000 + b"]" * 100_000,  # deeper than the JSON parser's stack: RecursionError
    ],
    ids=["missing-member", "string-member", "list", "deep-nesting"],
)
def test_registry_answer_of_wrong_shape_is_registry_error(answer: bytes) -> None:
    from registry.errors import RegistryError

    issuer = W.world().ledger["dids"][1]
    with pytest.raises(RegistryError):
        _client(answer).key_at(issuer, issuer + "#key-1", W.T0)  # type: ignore[attr-defined]


def _sealed(contents: dict) -> bytes:
    return W.world().wallet_file(contents)


@pytest.mark.parametrize(
    "change",
    [
        {"copies": [1]},
        {"disclosable": [[["nested"]]]},
        {"disclosable": "x"},
        {"claims": [1]},
        {"type_metadata": "x"},
        {"issuer_names": [1]},
    ],
    ids=["copy-not-object", "path-step-list", "disclosable-string", "claims-list", "metadata-string", "names-list"],
)
def test_wallet_contents_with_malformed_credential_record_is_corrupt_wallet(change: dict) -> None:
    # Sealed with the right key, so only the contents are wrong: listing raised TypeError/AttributeError.
    from wallet.errors import CorruptWallet
    from wallet.store import unseal

    record = {**W.world().wallet_record(), **change}
    raw = _sealed({"version": 1, "credentials": [record], "history": []})
    with pytest.raises(CorruptWallet, match="credential in the wallet is not valid"):
        unseal(raw, W.PASSPHRASE, "civicid-wallet")


def test_type_metadata_display_with_non_string_locale_is_skipped() -> None:
    # Type metadata comes from issuers and the registry; a list locale was hashed (TypeError).
    from wallet.credentials import type_name

    record = {"vct": W.NATIONAL_ID, "type_metadata": {"display": [{"locale": ["en"], "name": "x"},
                                                                  {"locale": "en", "name": "National ID"}]}}
    assert type_name(record, "en") == "National ID"


def test_credential_with_non_string_array_digest_selects_nothing() -> None:
    # A credential whose array element is {"...": [..]} made the holder's select() hash a list (TypeError).
    import sdjwt
    from sdjwt.encoding import b64url_decode
    from sdjwt.jws import sign_compact
    from sdjwt.presentation import SDJWT

    issued = sdjwt.issue({"nationalities": ["CN"]}, disclosable=[], issuer_key=W.world().issuer_key, kid=W.ISSUER_KID,
                         iss=W.ISSUER_DID, vct=W.NATIONAL_ID, iat=W.T0, random=W.counter_random(1))
    header, payload, _ = issued.serialize().split("~")[0].split(".")
    claims = json.loads(b64url_decode(payload))
    claims["nationalities"] = [{"...": ["not", "a", "digest"]}]
    forged = sign_compact(json.loads(b64url_decode(header)), claims, W.world().issuer_key)
    selected = SDJWT.parse(forged + "~").select([("nationalities",)])
    assert selected.disclosures == ()
