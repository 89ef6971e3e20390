"""Bulk issuance from a population-register export: one offer and one printable letter per row.

CSV, UTF-8, header row. ``record_id`` (the register's stable id, ``[A-Za-z0-9._-]{1,64}``)
makes reruns idempotent: an offer's ``external_ref`` is ``<configuration id>:<record_id>``
and is unique, so a row offered before is skipped. Claim columns are the type's
claim names; nested claims use dots (``address.locality``); arrays are
``;``-separated (``nationalities``); integers are parsed where the schema says so.

Per batch of ``BATCH`` rows: rows are validated and prepared (bad rows are
reported with their row number and skipped), worker processes write the
letters (HTML with the QR code as an inline PNG, and the PIN) each atomically,
the letters are made durable (one ``syncfs``), then the offers and one audit
record per offer (chained as usual) are committed in one transaction. This
process prepares the next batch while the workers render the current one. A
crash before a commit leaves letters for offers that do not exist; the rerun
overwrites them. PINs are stored as HMAC-SHA256 under the service secret
(``OfferSettings.tx_hash``), never with a slow password hash.
"""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import os
import re
import struct
import sys
import tempfile
import zlib
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TextIO

from .credential_types import CredentialType
from .errors import InvalidClaims
from .offers import Offer, OfferSettings, insert_offers, prepare
from .storage import IssuerStore

__all__ = ["BulkReport", "run_bulk", "row_claims", "letter_html", "qr_png"]

_RECORD_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
BATCH = 1000
"""Rows per transaction: one executemany of offers and their audit records, one commit."""
CHUNK = 125
"""Letters per task sent to a worker process."""


@dataclass
class BulkReport:
    created: int = 0
    skipped_existing: int = 0
    invalid: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"created": self.created, "skipped_existing": self.skipped_existing, "invalid": self.invalid}


def row_claims(ctype: CredentialType, row: dict[str, str]) -> dict[str, Any]:
    schema = ctype.input_schema()["properties"]
    claims: dict[str, Any] = {}
    for column, raw in row.items():
        if column == "record_id" or column is None:
            continue
        value = (raw or "").strip()
        if value == "":
            continue
        name, _, sub = column.partition(".")
        prop = schema.get(name, {})
        if sub:
            prop = prop.get("properties", {}).get(sub, {})
        if prop.get("type") == "integer":
            if not re.fullmatch(r"-?\d{1,9}", value):
                raise InvalidClaims(f"{column} must be a whole number", column)
            parsed: Any = int(value)
        elif prop.get("type") == "array":
            parsed = [part.strip() for part in value.split(";") if part.strip()]
        else:
            parsed = value
        if sub:
            target = claims.setdefault(name, {})
            if not isinstance(target, dict):
                raise InvalidClaims(f"{name} is given both as a value and as parts", name)
            target[sub] = parsed
        else:
            claims[name] = parsed
    return claims


def qr_png(text: str) -> bytes:
    """The QR code (ISO/IEC 18004, level M) of ``text`` as a one-pixel-per-module grayscale PNG.

    The data mask is fixed instead of chosen by the encoder's penalty score:
    every mask is valid QR and scans the same, and scoring all eight masks is
    nine tenths of the encoding time (about 400 of 450 us per code).
    """
    import zxingcpp

    code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M", data_mask=1)
    image = code.to_image(scale=1, add_quiet_zones=True)
    view = memoryview(image)  # type: ignore[arg-type]  # zxingcpp.Image has the buffer protocol, untyped.
    height, width = view.shape or (0, 0)
    pixels = view.tobytes()
    # PNG (ISO/IEC 15948): filter byte 0 before each row, 8-bit grayscale.
    scanlines = b"".join(b"\x00" + pixels[y * width : (y + 1) * width] for y in range(height))
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)),
        _png_chunk(b"IDAT", zlib.compress(scanlines, 1)),
        _png_chunk(b"IEND", b""),
    ))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def letter_html(record_id: str, link: str, tx_code: str, expires_at: int, title_en: str, title_zh: str) -> str:
    """One printable letter: the offer link as a QR code (inline PNG) and the PIN.

    An inline PNG is about five times cheaper to make than an SVG path of the
    same code (measured in docs/issuer.md); ``image-rendering: pixelated``
    keeps the modules sharp at print size.
    """
    png = base64.b64encode(qr_png(link)).decode("ascii")
    expiry = _dt.datetime.fromtimestamp(expires_at, _dt.timezone.utc).strftime("%Y-%m-%d")
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>"
        f"{html.escape(title_en)}</title></head><body>"
        f"<h1>{html.escape(title_zh)} / {html.escape(title_en)}</h1>"
        "<p>请用您的数字钱包扫描二维码，并输入下方 PIN 码。/ Scan the code with your wallet and enter the PIN below.</p>"
        f"<div class=\"qr\"><img alt=\"QR code\" width=\"228\" height=\"228\" "
        f"style=\"image-rendering:pixelated;image-rendering:crisp-edges\" src=\"data:image/png;base64,{png}\"></div>"
        f"<p>PIN: <strong>{html.escape(tx_code)}</strong></p>"
        f"<p>有效期至 / Valid until: {expiry}</p>"
        f"<p><small>{html.escape(record_id)}</small></p></body></html>"
    )


LetterJob = tuple[str, str, list[tuple[str, str, str, int]], str, str]


def _write_letters(job: LetterJob) -> int:
    """Write a chunk of letters, each atomically (temporary file, then rename). Runs in a worker process.

    Durability is the caller's: :func:`_sync_letters` runs once per batch,
    before the batch's offers are committed, so a committed offer always has
    its letter on disk.
    """
    folder, _, letters, title_en, title_zh = job
    for record_id, link, tx_code, expires_at in letters:
        data = letter_html(record_id, link, tx_code, expires_at, title_en, title_zh).encode("utf-8")
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".letter-")
        try:
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, os.path.join(folder, f"{record_id}.html"))
        except BaseException:
            # Stopped mid-letter (the bulk process died, see _die_with_parent): leave no temporary file.
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    return len(letters)


def _sync_letters(folder: str, record_ids: list[str]) -> None:
    """Make a batch's letters durable: one ``syncfs(2)`` of the folder's file system on Linux.

    One syncfs per 1,000 letters measured 25-50 ms against ~300 us per file
    for fsync each (docs/issuer.md). Elsewhere, or if syncfs fails, each
    letter and then the folder are fsynced.
    """
    fd = os.open(folder, os.O_RDONLY)
    try:
        if _syncfs is not None and _syncfs(fd) == 0:
            return
        for record_id in record_ids:
            letter = os.open(os.path.join(folder, f"{record_id}.html"), os.O_RDONLY)
            try:
                os.fsync(letter)
            finally:
                os.close(letter)
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


_syncfs = _load_syncfs()


def _rows(source: TextIO) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(source)
    if reader.fieldnames is None or "record_id" not in reader.fieldnames:
        raise InvalidClaims("the CSV needs a header row with a record_id column", "record_id")
    for number, row in enumerate(reader, start=2):
        yield number, row


def _die_with_parent() -> None:
    """Letter workers exit when the bulk process dies (even by SIGKILL), instead of lingering.

    Linux ``prctl(PR_SET_PDEATHSIG, SIGTERM)``; elsewhere a no-op (the leak is harmless there:
    workers only write letters for offers that were never committed, and a rerun rewrites them).
    """
    import ctypes
    import signal
    import sys

    # SIGTERM becomes SystemExit, so a letter being written is cleaned up on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def run_bulk(
    store: IssuerStore,
    settings: OfferSettings,
    ctype: CredentialType,
    source: TextIO,
    out_dir: str,
    *,
    actor: str,
    now: int,
    random: Callable[[int], bytes],
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
) -> BulkReport:
    """Validate every row, then write letters and commit offers batch by batch.

    Pipelined: while the worker processes render and write one batch's
    letters, this process validates and prepares the next batch. A batch is
    committed (offers + one audit record per offer, one transaction) only
    after all its letters are durably on disk.
    """
    os.makedirs(out_dir, mode=0o700, exist_ok=True)
    # Temporary letters left by a run that was killed mid-write are never letters: remove them.
    # (One bulk run per letters folder at a time, as for the rows themselves.)
    for name in os.listdir(out_dir):
        if name.startswith(".letter-"):
            try:
                os.unlink(os.path.join(out_dir, name))
            except FileNotFoundError:
                pass
    report = BulkReport()
    prefix = ctype.configuration_id + ":"
    existing = {
        str(r[0]) for r in store.read().execute(
            "SELECT external_ref FROM offers WHERE configuration_id = ? AND external_ref IS NOT NULL", (ctype.configuration_id,)
        ).fetchall()
    }
    seen: set[str] = set()
    title_en, title_zh = ctype.display_name("en"), ctype.display_name("zh-CN")
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_die_with_parent) if workers > 1 else None
    batch: list[tuple[Offer, tuple[Any, ...]]] = []
    pending: tuple[list[tuple[Offer, tuple[Any, ...]]], list[Future[int]]] | None = None

    def render(rows: list[tuple[Offer, tuple[Any, ...]]]) -> list[Future[int]]:
        letters = [(str(o.external_ref)[len(prefix):], o.credential_offer, o.tx_code, o.expires_at) for o, _ in rows]
        jobs: list[LetterJob] = [(out_dir, "", letters[i : i + CHUNK], title_en, title_zh) for i in range(0, len(letters), CHUNK)]
        if pool is not None:
            return [pool.submit(_write_letters, job) for job in jobs]
        done: list[Future[int]] = []
        for job in jobs:
            future: Future[int] = Future()
            future.set_result(_write_letters(job))
            done.append(future)
        return done

    def commit(rows: list[tuple[Offer, tuple[Any, ...]]], futures: list[Future[int]]) -> None:
        for future in futures:
            future.result()  # A failed letter write stops the run before its offers exist.
        _sync_letters(out_dir, [str(o.external_ref)[len(prefix):] for o, _ in rows])
        insert_offers(store, rows, actor=actor, now=now)
        report.created += len(rows)
        if progress:
            progress(len(rows))

    def flush() -> None:
        nonlocal pending, batch
        if not batch:
            return
        futures = render(batch)
        if pending is not None:
            commit(*pending)
        pending, batch = (batch, futures), []

    try:
        for number, row in _rows(source):
            record_id = (row.get("record_id") or "").strip()
            if not _RECORD_ID.fullmatch(record_id):
                report.invalid.append({"row": number, "field": "record_id", "reason": "record_id must be 1-64 of A-Z a-z 0-9 . _ -"})
                continue
            ref = prefix + record_id
            if ref in existing:
                report.skipped_existing += 1
                if progress:
                    progress(1)
                continue
            if ref in seen:
                report.invalid.append({"row": number, "field": "record_id", "reason": "record_id repeats an earlier row"})
                continue
            if None in row:
                report.invalid.append({"row": number, "field": "$", "reason": "the row has more cells than the header"})
                continue
            try:
                claims = row_claims(ctype, row)
                batch.append(prepare(settings, ctype, claims, now=now, random=random, external_ref=ref))
            except InvalidClaims as exc:
                report.invalid.append({"row": number, "field": exc.field, "reason": exc.message})
                continue
            seen.add(ref)
            if len(batch) >= BATCH:
                flush()
        flush()
        if pending is not None:
            commit(*pending)
            pending = None
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return report
