"""Bulk issuance from a population-register export: one offer and one printable letter per row.

CSV, UTF-8, header row. ``record_id`` (the register's stable id, ``[A-Za-z0-9._-]{1,64}``)
makes reruns idempotent: an offer's ``external_ref`` is ``<configuration id>:<record_id>``
and is unique, so a row offered before is skipped. Claim columns are the type's
claim names; nested claims use dots (``address.locality``); arrays are
``;``-separated (``nationalities``); integers are parsed where the schema says so.

Per batch: rows are validated and prepared, the letters (HTML with the QR code
as inline SVG, and the PIN) are written atomically, then the offers and their
audit records are committed in one transaction. A crash before the commit
leaves letters for offers that do not exist; the rerun overwrites them.
"""

from __future__ import annotations

import csv
import html
import os
import re
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TextIO

from .credential_types import CredentialType
from .errors import InvalidClaims
from .offers import Offer, OfferSettings, insert_offers, prepare
from .storage import IssuerStore

__all__ = ["BulkReport", "run_bulk", "row_claims", "letter_html"]

_RECORD_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
BATCH = 2000


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


def letter_html(record_id: str, link: str, tx_code: str, expires_at: int, title_en: str, title_zh: str) -> str:
    import zxingcpp

    svg = zxingcpp.create_barcode(link, zxingcpp.BarcodeFormat.QRCode, ec_level="M").to_svg()
    svg = svg[svg.index("<svg") :]
    import datetime as dt

    expiry = dt.datetime.fromtimestamp(expires_at, dt.timezone.utc).strftime("%Y-%m-%d")
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>"
        f"{html.escape(title_en)}</title></head><body>"
        f"<h1>{html.escape(title_zh)} / {html.escape(title_en)}</h1>"
        "<p>请用您的数字钱包扫描二维码，并输入下方 PIN 码。/ Scan the code with your wallet and enter the PIN below.</p>"
        f"<div class=\"qr\">{svg}</div>"
        f"<p>PIN: <strong>{html.escape(tx_code)}</strong></p>"
        f"<p>有效期至 / Valid until: {expiry}</p>"
        f"<p><small>{html.escape(record_id)}</small></p></body></html>"
    )


def _write_letter(job: tuple[str, str, str, str, int, str, str]) -> None:
    folder, record_id, link, tx_code, expires_at, title_en, title_zh = job
    text = letter_html(record_id, link, tx_code, expires_at, title_en, title_zh)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".letter-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, os.path.join(folder, f"{record_id}.html"))


def _rows(source: TextIO) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(source)
    if reader.fieldnames is None or "record_id" not in reader.fieldnames:
        raise InvalidClaims("the CSV needs a header row with a record_id column", "record_id")
    for number, row in enumerate(reader, start=2):
        yield number, row


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
    os.makedirs(out_dir, mode=0o700, exist_ok=True)
    report = BulkReport()
    prefix = ctype.configuration_id + ":"
    existing = {
        str(r[0]) for r in store.read().execute(
            "SELECT external_ref FROM offers WHERE configuration_id = ? AND external_ref IS NOT NULL", (ctype.configuration_id,)
        ).fetchall()
    }
    seen: set[str] = set()
    title_en, title_zh = ctype.display_name("en"), ctype.display_name("zh-CN")
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    batch: list[tuple[Offer, tuple[Any, ...]]] = []

    def flush() -> None:
        if not batch:
            return
        jobs = [(out_dir, o.external_ref[len(prefix):], o.credential_offer, o.tx_code, o.expires_at, title_en, title_zh) for o, _ in batch]  # type: ignore[index]
        if pool is not None:
            list(pool.map(_write_letter, jobs, chunksize=64))
        else:
            for job in jobs:
                _write_letter(job)
        insert_offers(store, batch, actor=actor, now=now)
        report.created += len(batch)
        if progress:
            progress(len(batch))
        batch.clear()

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
    finally:
        if pool is not None:
            pool.shutdown()
    return report
