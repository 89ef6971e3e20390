"""Kill-and-restart loops shared by the bounded crash tests and ``scripts/crash_soak.py``.

Each loop runs a real civicid process (the ``civicid`` command, or a small
driver calling the same domain function the command calls), kills it with
SIGKILL at a random moment, restarts it on the same database or folder, and
checks what survived against what the process acknowledged before it died:

- :func:`registry_loop`: ``civicid registry serve`` (gunicorn, 2 workers)
  receiving pre-signed ``did.create`` entries from several client threads;
- :func:`bulk_loop`: ``civicid issuer bulk`` over a CSV, rerun after each kill;
- :func:`status_loop`: a driver changing credential statuses with
  :func:`issuer.status.change_status` (what the CLI and the admin API call);
- :func:`wallet_loop`: a driver writing through :class:`wallet.store.Store`;
- :func:`wallet_cli_loop`: ``civicid wallet change-passphrase``.

Every loop returns a plain dict of counters (what the docs report) and
raises :class:`CrashCheckFailed` at the first broken guarantee, naming the
round. Randomness comes from the caller's :class:`random.Random`, so a
failing seed can be replayed (``scripts/crash_soak.py --seed``).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from random import Random
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parents[2]
CIVICID = [sys.executable, "-c", "import sys; from civicid.cli import main; sys.exit(main())"]
ORIGIN = "crash.registry.test/v1"
LOG_SEED = bytes(range(32))

Log = Callable[[str], None]


class CrashCheckFailed(AssertionError):
    """A guarantee did not hold after a kill; the message names the loop, the round and what broke."""


def _check(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise CrashCheckFailed(f"{where}: {message}")


def _quiet(_: str) -> None:
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVICID_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _killpg(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL a process group we started (its leader's pid is the group id)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def _kill_leftovers(pgid: int) -> None:
    """SIGKILL whatever is left of a process group we started whose leader is already dead."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def wait_postgres_idle(db_url: str, timeout: float = 30.0) -> None:
    """Wait until no other session is open on the database.

    A killed client's PostgreSQL backend may still be finishing its last
    transaction (the COMMIT was sent, the answer never read): checking before
    it ends would see the change land after the check, in the next round.
    """
    if not db_url.startswith(("postgresql://", "postgres://")):
        return
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(db_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
            if row is not None and int(row[0]) == 0:
                return
            time.sleep(0.05)
    raise CrashCheckFailed(f"sessions of the killed process were still open after {timeout:.0f} s")


# Registry --------------------------------------------------------------------------------------


class _EntryPool:
    """Pre-signed ``did.create`` entries, each a new DID; signed between rounds, never while the server runs."""

    def __init__(self) -> None:
        self._items: deque[Any] = deque()

    def fill(self, target: int) -> int:
        from registry.did import KeySpec, create_op
        from sdjwt import Ed25519PrivateKey

        made = 0
        now = int(time.time())
        while len(self._items) < target:
            key = Ed25519PrivateKey(os.urandom(32))
            entry, _ = create_op([KeySpec("key-1", key)], [], [Ed25519PrivateKey(os.urandom(32)).public_key()], now)
            self._items.append(entry)
            made += 1
        return made

    def take(self) -> Any | None:
        try:
            return self._items.popleft()
        except IndexError:
            return None

    def put_back(self, entry: Any) -> None:
        self._items.append(entry)


class _Stream:
    """Client threads POSTing entries to ``/entries``; what each answer proves is recorded."""

    def __init__(self, port: int, pool: _EntryPool, clients: int) -> None:
        self.port = port
        self.pool = pool
        self.acked: list[tuple[str, int]] = []  # (entry hash, seq) from a 201.
        self.unknown: list[str] = []  # Sent, no answer: committed or not.
        self.refused: list[tuple[str, int, bytes]] = []  # A 4xx/5xx other than load shedding.
        self.shed = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        while not self.stop.is_set():
            with self._lock:
                entry = self.pool.take()
            if entry is None:
                return
            try:
                if conn.sock is None:
                    conn.connect()
            except OSError:
                # Never sent: the entry cannot be in the log; it goes back to the pool.
                with self._lock:
                    self.pool.put_back(entry)
                conn.close()
                time.sleep(0.01)
                continue
            try:
                conn.request("POST", "/entries", body=entry.raw, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                with self._lock:
                    self.unknown.append(entry.hash)
                conn.close()
                continue
            with self._lock:
                if response.status == 201:
                    answer = json.loads(data)
                    if answer.get("hash") != entry.hash:
                        self.refused.append((entry.hash, response.status, data[:200]))
                    self.acked.append((entry.hash, int(answer["seq"])))
                elif response.status in (429, 503):
                    self.shed += 1
                    self.pool.put_back(entry)
                else:
                    self.refused.append((entry.hash, response.status, data[:200]))
        conn.close()


def _http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes] | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def _start_registry(workdir: Path, db_url: str, port: int, round_: int) -> subprocess.Popen[Any]:
    env = _env({
        "CIVICID_REGISTRY_INSTANCE_PATH": str(workdir / "instance"),
        "CIVICID_REGISTRY_LOG_KEY_FILE": str(workdir / "log.key"),
        "CIVICID_REGISTRY_ORIGIN": ORIGIN,
        "CIVICID_REGISTRY_CHECKPOINT_INTERVAL": "0.2",
        "CIVICID_REGISTRY_MAX_IN_FLIGHT": "0",
    })
    log = open(workdir / f"serve-{round_ % 4}.log", "wb")  # Keep the last few for a failure's evidence.
    try:
        return subprocess.Popen(
            [*CIVICID, "registry", "serve", "--host", "127.0.0.1", "--port", str(port), "--db", db_url, "--workers", "2"],
            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    finally:
        log.close()


def _wait_listening(proc: subprocess.Popen[Any], port: int, where: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check(proc.poll() is None, where, f"the server exited with status {proc.returncode} while starting")
        if _http_get(port, "/policy", timeout=2) is not None:
            return
        time.sleep(0.05)
    raise CrashCheckFailed(f"{where}: the server did not answer within {timeout:.0f} s")


def check_registry(db_url: str, port: int, acked: list[tuple[str, int]], submitted: set[str], where: str,
                   *, run_audit: bool = True) -> dict[str, Any]:
    """After a restart: every acknowledged entry is in the log at its seq, nothing is half-written, audit passes,
    and the running server publishes a checkpoint for the whole log."""
    from registry.audit import audit
    from registry.checkpoint import Checkpoint, Ed25519Signer
    from registry.storage import Database, LogStore

    db = Database(db_url)
    try:
        store = LogStore(db)
        size = store.size()
        count, low, high = db.read().execute("SELECT COUNT(*), MIN(seq), MAX(seq) FROM entries").fetchone()
        _check(int(count) == size, where, f"the entries table holds {count} rows but the log size is {size}")
        if size:
            _check((int(low), int(high)) == (0, size - 1), where, f"entry seqs span {low}..{high}, not 0..{size - 1}")
        nodes = int(db.read().execute("SELECT COUNT(*) FROM nodes WHERE level = 0").fetchone()[0])
        _check(nodes == size, where, f"{nodes} leaf hashes for {size} entries")
        for entry_hash, seq in acked:
            found = store.seq_of(bytes.fromhex(entry_hash))
            _check(found == seq, where, f"acknowledged entry {entry_hash[:16]} (seq {seq}) is {'missing' if found is None else f'at seq {found}'}")
        hashes = {bytes(r[0]).hex() for r in db.read().execute("SELECT entry_hash FROM entries").fetchall()}
        strangers = hashes - submitted
        _check(not strangers, where, f"{len(strangers)} entries in the log were never submitted")
        report = None
        if run_audit:
            report = audit(store, origin=ORIGIN, log_verifier=Ed25519Signer(ORIGIN, LOG_SEED).verifier, roots=(),
                           cosigners=(), quorum=0)
            _check(report.ok, where, f"audit failed: {report.first_error.describe() if report.first_error else '?'}")
            _check(report.size == size, where, f"audit covered {report.size} of {size} entries")
        # The restarted server checkpoints the whole log again (witnessing thread, quorum 0).
        deadline = time.monotonic() + 30
        published = -1
        while time.monotonic() < deadline:
            answer = _http_get(port, "/checkpoint")
            if answer is not None and answer[0] == 200:
                published = Checkpoint.from_text(answer[1].decode("utf-8").split("\n\n")[0] + "\n").size
                if published == size:
                    break
            time.sleep(0.1)
        _check(published == size, where, f"the restarted server publishes a checkpoint of size {published}, the log has {size}")
        return {"size": size, "hashes": hashes, "checkpoints": report.checkpoints_checked if report else None}
    finally:
        db.close()


def registry_loop(workdir: Path, db_url: str, *, kills: int, rng: Random, clients: int = 4,
                  delay: tuple[float, float] = (0.2, 1.2), pool_size: int = 1500, audit_every: int = 1,
                  log: Log = _quiet) -> dict[str, Any]:
    """Stream entries into ``civicid registry serve``, SIGKILL its process group ``kills`` times, check after each restart."""
    workdir.mkdir(parents=True, exist_ok=True)
    key = workdir / "log.key"
    if not key.exists():
        key.write_bytes(LOG_SEED)
        key.chmod(0o600)
    pool = _EntryPool()
    acked: list[tuple[str, int]] = []
    submitted: set[str] = set()
    stats = {"kills": 0, "acked": 0, "unknown": 0, "unknown_committed": 0, "kills_with_inflight": 0, "shed": 0,
             "audits": 0, "signed": 0, "max_size": 0, "seconds": 0.0}
    started = time.monotonic()
    port = free_port()
    proc: subprocess.Popen[Any] | None = None
    unknown_pending: set[str] = set()
    try:
        for round_ in range(kills + 1):
            where = f"registry round {round_}"
            stats["signed"] += pool.fill(pool_size)
            proc = _start_registry(workdir, db_url, port, round_)
            _wait_listening(proc, port, where)
            if round_:
                result = check_registry(db_url, port, acked, submitted, where,
                                        run_audit=round_ % audit_every == 0 or round_ == kills)
                stats["audits"] += result["checkpoints"] is not None
                stats["unknown_committed"] += len(unknown_pending & result["hashes"])
                stats["max_size"] = result["size"]
                unknown_pending.clear()
            if round_ == kills:
                break
            stream = _Stream(port, pool, clients)
            stream.start()
            time.sleep(rng.uniform(*delay))
            _killpg(proc)
            proc = None
            stream.join()
            wait_postgres_idle(db_url)
            stats["kills"] += 1
            _check(not stream.refused, where, f"entries refused: {stream.refused[:3]}")
            acked.extend(stream.acked)
            submitted.update(h for h, _ in stream.acked)
            submitted.update(stream.unknown)
            unknown_pending.update(stream.unknown)
            stats["acked"] += len(stream.acked)
            stats["unknown"] += len(stream.unknown)
            stats["kills_with_inflight"] += bool(stream.unknown)
            stats["shed"] += stream.shed
            log(f"{where}: +{len(stream.acked)} acknowledged, {len(stream.unknown)} in flight at the kill")
    finally:
        if proc is not None:
            _killpg(proc)
    stats["seconds"] = round(time.monotonic() - started, 1)
    return stats


# Issuer: bulk ----------------------------------------------------------------------------------

BULK_HEADER = ("record_id,given_name,family_name,birthdate,sex,nationalities,personal_identifier,"
               "address.street_address,address.locality,address.postal_code,address.country\n")
SECRET = "crash-test-secret-" + "s" * 32
_PIN = re.compile(rb"PIN: <strong>(\d+)</strong>")


def write_csv(path: Path, rows: int) -> list[str]:
    ids = [f"r{n:06d}" for n in range(rows)]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(BULK_HEADER)
        for rid in ids:
            handle.write(f"{rid},Wei,Zhang,1980-05-17,1,CN;HK,P-{rid},2 Road,Shanghai,200000,CN\n")
    return ids


def _issuer_env(db_url: str) -> dict[str, str]:
    return _env({
        "CIVICID_ISSUER_SECRET_KEY": SECRET,
        "CIVICID_ISSUER_PUBLIC_URL": "https://office.example",
        "CIVICID_ISSUER_DATABASE": db_url,
    })


def check_bulk(db_url: str, out: Path, where: str, *, expect_rows: int | None = None) -> dict[str, int]:
    """Offers, their audit records and their letters agree; the audit chain verifies."""
    from issuer.audit import verify_chain
    from issuer.offers import OfferSettings
    from issuer.storage import IssuerStore

    settings = OfferSettings("https://office.example", SECRET.encode(), 1, 8, 5, 60)
    store = IssuerStore(db_url)
    try:
        rows = store.read().execute(
            "SELECT id, external_ref, tx_hash FROM offers WHERE external_ref LIKE ?", ("national_id:%",)).fetchall()
        refs = [str(r[1]) for r in rows]
        _check(len(refs) == len(set(refs)), where, f"{len(refs) - len(set(refs))} duplicate offers")
        if expect_rows is not None:
            _check(len(refs) == expect_rows, where, f"{len(refs)} offers for {expect_rows} rows")
        audited = store.read().execute("SELECT target FROM audit WHERE action = 'offer.create'").fetchall()
        targets = [str(t[0]) for t in audited]
        offer_ids = {f"offer:{r[0]}" for r in rows}
        _check(len(targets) == len(set(targets)) and set(targets) == offer_ids, where,
               f"{len(offer_ids)} offers but {len(targets)} offer.create audit records ({len(set(targets) ^ offer_ids)} differ)")
        chain = verify_chain(store)
        for offer_id, ref, tx_hash in rows:
            rid = str(ref).split(":", 1)[1]
            path = out / f"{rid}.html"
            _check(path.exists(), where, f"committed offer {rid} has no letter")
            data = path.read_bytes()
            _check(data.startswith(b"<!doctype html>") and data.endswith(b"</html>"), where, f"letter {rid} is half-written")
            pin = _PIN.search(data)
            _check(pin is not None and settings.tx_hash(str(offer_id), pin.group(1).decode()) == tx_hash, where,
                   f"letter {rid} does not carry its committed offer's PIN")
        letters = {p.stem for p in out.glob("*.html")} if out.exists() else set()
        for name in letters:
            data = (out / f"{name}.html").read_bytes()
            _check(data.endswith(b"</html>"), where, f"letter file {name}.html is half-written")
        temps = len(list(out.glob(".letter-*"))) if out.exists() else 0
        return {"offers": len(refs), "audit_records": chain.count, "letters": len(letters),
                "letters_without_offer": len(letters - {r.split(":", 1)[1] for r in refs}), "temp_files": temps}
    finally:
        store.close()


def bulk_loop(workdir: Path, db_url: str, *, rows: int, kills: int, rng: Random, delay: tuple[float, float] = (0.6, 4.0),
              workers: int = 2, log: Log = _quiet) -> dict[str, Any]:
    """``civicid issuer bulk`` killed (SIGKILL to the main process only) ``kills`` times, rerun until it completes."""
    workdir.mkdir(parents=True, exist_ok=True)
    records, out = workdir / "records.csv", workdir / "letters"
    write_csv(records, rows)
    env = _issuer_env(db_url)
    stats: dict[str, Any] = {"kills": 0, "kills_mid_run": 0, "completed_early": 0, "checks": 0, "rows": rows,
                             "max_temp_files": 0, "max_letters_without_offer": 0, "seconds": 0.0}
    started = time.monotonic()
    orphans: list[int] = []
    command = [*CIVICID, "issuer", "bulk", str(records), "--out", str(out), "--workers", str(workers), "--json"]
    try:
        round_ = 0
        while stats["kills"] < kills:
            where = f"bulk round {round_}"
            before = check_bulk(db_url, out, where)["offers"]
            # Output to a file, not a pipe: the orphaned letter workers of a killed run would hold a pipe open.
            with open(workdir / "bulk.out", "wb") as output:
                proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=output, stderr=subprocess.STDOUT,
                                        start_new_session=True)
            time.sleep(rng.uniform(*delay))
            if proc.poll() is not None:
                # It finished first: every row is offered; start again from an empty database next time.
                _check(proc.returncode == 0, where, f"bulk failed: {(workdir / 'bulk.out').read_bytes()[-300:]!r}")
                stats["completed_early"] += 1
                check_bulk(db_url, out, where, expect_rows=rows)
                _reset_bulk(db_url, out)
                round_ += 1
                continue
            # kill -9 of the bulk process alone, as an operator would: its letter workers are orphaned.
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            orphans.append(proc.pid)
            stats["kills"] += 1
            result = check_bulk(db_url, out, where)
            stats["checks"] += 1
            stats["kills_mid_run"] += 0 < result["offers"] - before or result["offers"] < rows
            stats["max_temp_files"] = max(stats["max_temp_files"], result["temp_files"])
            stats["max_letters_without_offer"] = max(stats["max_letters_without_offer"], result["letters_without_offer"])
            log(f"{where}: killed with {result['offers']} of {rows} offers committed")
            # The previous run's orphans have had a whole round to interfere; now they go.
            while len(orphans) > 1:
                _kill_leftovers(orphans.pop(0))
            round_ += 1
        done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, timeout=600)
        _check(done.returncode == 0, "bulk final run", f"exit {done.returncode}: {done.stderr[-300:]!r}")
        report = json.loads(done.stdout)
        _check(report["invalid"] == [], "bulk final run", f"invalid rows: {report['invalid'][:3]}")
        final = check_bulk(db_url, out, "bulk final run", expect_rows=rows)
        verify = subprocess.run([*CIVICID, "issuer", "audit-verify"], cwd=workdir, env=env, capture_output=True, timeout=120)
        _check(verify.returncode == 0 and b"audit log intact" in verify.stdout, "bulk final run",
               f"civicid issuer audit-verify: {verify.stdout!r} {verify.stderr[-300:]!r}")
        stats.update({"final_offers": final["offers"], "final_audit_records": final["audit_records"],
                      "final_created": report["created"], "final_skipped": report["skipped_existing"],
                      "temp_files_left": final["temp_files"]})
    finally:
        for pgid in orphans:
            _kill_leftovers(pgid)
    stats["seconds"] = round(time.monotonic() - started, 1)
    return stats


def _reset_bulk(db_url: str, out: Path) -> None:
    from issuer.storage import GENESIS_HASH, IssuerStore

    store = IssuerStore(db_url)
    try:
        with store.transaction() as cur:
            cur.execute("DELETE FROM offers")
            cur.execute("DELETE FROM audit")
            cur.execute("UPDATE audit_head SET seq = 0, hash = ? WHERE id = 1", (GENESIS_HASH,))
    finally:
        store.close()
    for path in out.glob("*"):
        path.unlink()


# Issuer: status changes ------------------------------------------------------------------------

_STATUS_DRIVER = """
import random, sys, time
from issuer.errors import Conflict
from issuer.status import ACTIONS, change_status
from issuer.storage import IssuerStore

store = IssuerStore(sys.argv[1])
rnd = random.Random(int(sys.argv[2]))
ids = sys.argv[3].split(",")
print("ready", flush=True)
while True:
    cid = rnd.choice(ids)
    status = int(store.read().execute("SELECT status FROM credentials WHERE id = ?", (cid,)).fetchone()[0])
    if status == 1:
        ids.remove(cid)
        if not ids:
            print("exhausted", flush=True)
            time.sleep(3600)
        continue
    if status == 2:
        action = "reinstate" if rnd.random() < 0.97 else "revoke"
    else:
        action = "suspend" if rnd.random() < 0.99 else "revoke"
    print("try", cid, action, flush=True)
    new = change_status(store, cid, action, actor="crash-driver", now=int(time.time()), reason="crash test")
    print("ack", cid, new, flush=True)
"""

def _wait_ready(proc: subprocess.Popen[bytes], where: str) -> None:
    """Read the driver's first line; if it is not ``ready`` the driver failed: report its stderr."""
    assert proc.stdout is not None and proc.stderr is not None
    if proc.stdout.readline().strip() != b"ready":
        proc.wait(timeout=30)
        raise CrashCheckFailed(f"{where}: the driver did not start: {proc.stderr.read()[-300:]!r}")


_TARGET = {"revoke": 1, "suspend": 2, "reinstate": 0}
_STATUS_NAME = {0: "valid", 1: "revoked", 2: "suspended"}


def _seed_credentials(db_url: str, count: int) -> list[str]:
    from issuer.storage import IssuerStore

    store = IssuerStore(db_url)
    ids = [hashlib.sha256(f"crash-{n}".encode()).hexdigest()[:32] for n in range(count)]
    try:
        with store.transaction() as cur:
            cur.execute("INSERT INTO status_lists (id, bits, size, allocated, version, created_at) VALUES (?, 2, ?, ?, 1, 0)",
                        ("crashlist", 4 * count, count))
            cur.executemany(
                "INSERT INTO credentials (id, offer_id, configuration_id, subject, list_id, idx, status, issued_at, "
                "expires_at, holder_jkt) VALUES (?, 'o', 'national_id', 's', 'crashlist', ?, 0, 0, 4000000000, 'j')",
                [(cid, n) for n, cid in enumerate(ids)])
    finally:
        store.close()
    return ids


def check_statuses(db_url: str, expected: dict[str, int], inflight: tuple[str, int] | None, where: str) -> dict[str, int]:
    """The credentials table holds every acknowledged status; the audit records and the list version agree with it."""
    from issuer.audit import verify_chain
    from issuer.storage import IssuerStore

    store = IssuerStore(db_url)
    try:
        actual = {str(c): int(s) for c, s in store.read().execute("SELECT id, status FROM credentials").fetchall()}
        landed = 0
        for cid, status in expected.items():
            if inflight is not None and inflight[0] == cid and actual[cid] == inflight[1] != status:
                landed = 1  # The change in flight at the kill committed; its ack was never printed.
                continue
            _check(actual[cid] == status, where,
                   f"credential {cid[:8]} is {_STATUS_NAME[actual[cid]]}, the last acknowledged change made it {_STATUS_NAME[status]}")
        chain = verify_chain(store)
        records = store.read().execute(
            "SELECT target, details FROM audit WHERE action LIKE ? ORDER BY seq", ("credential.%",)).fetchall()
        replayed = {cid: "valid" for cid in actual}
        for target, details in records:
            cid, step = str(target).split(":", 1)[1], json.loads(details)
            _check(replayed[cid] == step["from"], where, f"audit record for {cid[:8]} starts from {step['from']}, not {replayed[cid]}")
            replayed[cid] = step["to"]
        for cid, status in actual.items():
            _check(replayed[cid] == _STATUS_NAME[status], where,
                   f"the audit log replays {cid[:8]} to {replayed[cid]}, the table says {_STATUS_NAME[status]}")
        version = int(store.read().execute("SELECT version FROM status_lists WHERE id = 'crashlist'").fetchone()[0])
        _check(version == 1 + len(records), where, f"status list version {version} after {len(records)} changes")
        return {"changes": len(records), "audit_records": chain.count, "inflight_landed": landed}
    finally:
        store.close()


def status_loop(workdir: Path, db_url: str, *, kills: int, rng: Random, credentials: int = 200,
                delay: tuple[float, float] = (0.05, 0.8), log: Log = _quiet) -> dict[str, Any]:
    """A driver changing statuses, SIGKILLed ``kills`` times; after each kill the table, audit and list agree with its acks."""
    workdir.mkdir(parents=True, exist_ok=True)
    ids = _seed_credentials(db_url, credentials)
    expected = {cid: 0 for cid in ids}
    stats = {"kills": 0, "acked": 0, "inflight_landed": 0, "kills_with_inflight": 0, "changes": 0, "seconds": 0.0}
    started = time.monotonic()
    for round_ in range(kills):
        where = f"status round {round_}"
        proc = subprocess.Popen([sys.executable, "-c", _STATUS_DRIVER, db_url, str(rng.getrandbits(32)), ",".join(ids)],
                                cwd=workdir, env=_env({}), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        assert proc.stdout is not None
        _wait_ready(proc, where)
        time.sleep(rng.uniform(*delay))
        _killpg(proc)
        out, err = proc.communicate()
        _check(proc.returncode == -signal.SIGKILL, where, f"the driver died on its own: {err[-300:]!r}")
        wait_postgres_idle(db_url)
        inflight: tuple[str, int] | None = None
        for line in out.decode("ascii", "replace").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "try":
                inflight = (parts[1], _TARGET[parts[2]])
            elif len(parts) == 3 and parts[0] == "ack":
                expected[parts[1]] = int(parts[2])
                inflight = None
                stats["acked"] += 1
        result = check_statuses(db_url, expected, inflight, where)
        if result["inflight_landed"] and inflight is not None:
            expected[inflight[0]] = inflight[1]
        stats["kills"] += 1
        stats["inflight_landed"] += result["inflight_landed"]
        stats["kills_with_inflight"] += inflight is not None
        stats["changes"] = result["changes"]
        log(f"{where}: {result['changes']} changes committed, in flight at the kill: {inflight is not None}")
        if all(s == 1 for s in expected.values()):
            break
    stats["seconds"] = round(time.monotonic() - started, 1)
    return stats


# Wallet ----------------------------------------------------------------------------------------

_WALLET_DRIVER = """
import hashlib, json, os, sys
from pathlib import Path
from wallet.store import Store

home, passphrase, start = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
with Store.open(home, passphrase) as store:
    print("ready", flush=True)
    n = store.contents["counter"]
    while True:
        n += 1
        # A received credential (the shape `wallet receive` stores), and a payload of varying size.
        store.credentials.append({"id": "cred-%d" % n, "copies": [{"copy": "%d-%d" % (n, c)} for c in range(3)]})
        del store.credentials[:-40]
        store.contents["counter"] = n
        store.contents["padding"] = os.urandom(1 + (n * 7919) % 400000).hex()
        if n % 9 == 0:
            passphrase = "pass-%d" % n
            print("try-pass", passphrase, flush=True)
            store.change_passphrase(passphrase)
        else:
            store.save()
        digest = hashlib.sha256(json.dumps(store.contents, sort_keys=True).encode()).hexdigest()
        print("ack", n, passphrase, digest, flush=True)
"""


def _contents_digest(contents: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(contents, sort_keys=True).encode()).hexdigest()


def _open_either(home: Path, passphrases: list[str], where: str) -> tuple[dict[str, Any], str]:
    from wallet.errors import WrongPassphrase
    from wallet.store import Store

    for passphrase in passphrases:
        try:
            with Store.open(home, passphrase) as store:
                return store.contents, passphrase
        except WrongPassphrase:
            continue
    raise CrashCheckFailed(f"{where}: the wallet opens with none of {len(passphrases)} candidate passphrases (corrupt?)")


def wallet_loop(workdir: Path, *, kills: int, rng: Random, delay: tuple[float, float] = (0.05, 0.6),
                log: Log = _quiet) -> dict[str, Any]:
    """A Store writer SIGKILLed ``kills`` times: the wallet always opens, holding the last acknowledged write or the next."""
    from wallet.store import KdfParams, Store

    home = workdir / "wallet"
    passphrase = "pass-0"
    with Store.create(home, passphrase, kdf=KdfParams(1, 8192)) as store:
        store.contents["counter"] = 0
        store.contents["padding"] = ""
        store.save()
        acked = (0, passphrase, _contents_digest(store.contents))
    stats = {"kills": 0, "writes_acked": 0, "next_write_landed": 0, "passphrase_changes_acked": 0, "seconds": 0.0}
    started = time.monotonic()
    for round_ in range(kills):
        where = f"wallet round {round_}"
        proc = subprocess.Popen([sys.executable, "-c", _WALLET_DRIVER, str(home), acked[1], str(acked[0])],
                                cwd=workdir, env=_env({}), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        assert proc.stdout is not None
        _wait_ready(proc, where)
        time.sleep(rng.uniform(*delay))
        _killpg(proc)
        out, _ = proc.communicate()
        pending_pass: str | None = None
        for line in out.decode("ascii", "replace").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "try-pass":
                pending_pass = parts[1]
            elif len(parts) == 4 and parts[0] == "ack":
                if parts[2] != acked[1]:
                    stats["passphrase_changes_acked"] += 1
                acked = (int(parts[1]), parts[2], parts[3])
                stats["writes_acked"] += 1
                pending_pass = None
        candidates = [acked[1]] + ([pending_pass] if pending_pass else [])
        contents, opened_with = _open_either(home, candidates, where)
        counter = contents["counter"]
        if counter == acked[0]:
            _check(opened_with == acked[1] and _contents_digest(contents) == acked[2], where,
                   f"write {counter} was acknowledged with other contents")
        else:
            # The write in flight at the kill completed its rename: whole and consistent.
            _check(counter == acked[0] + 1, where, f"the wallet holds write {counter}, the last acknowledged is {acked[0]}")
            _check(contents["credentials"][-1]["id"] == f"cred-{counter}", where, "the newest credential is not the newest write's")
            stats["next_write_landed"] += 1
            acked = (counter, opened_with, _contents_digest(contents))
        _check(not list(home.glob(".*.tmp")), where, "a temporary file survived the next open")
        stats["kills"] += 1
        log(f"{where}: last acknowledged write {acked[0]}")
    stats["seconds"] = round(time.monotonic() - started, 1)
    stats["final_counter"] = acked[0]
    return stats


def wallet_cli_loop(workdir: Path, *, kills: int, rng: Random, delay: tuple[float, float] = (0.02, 0.15),
                    log: Log = _quiet) -> dict[str, Any]:
    """``civicid wallet change-passphrase`` SIGKILLed at random moments: the wallet opens with the old or the new passphrase,
    and with the new one whenever the command exited 0 first."""
    from wallet.store import KdfParams, Store

    home = workdir / "cli-wallet"
    current = "cli-0"
    with Store.create(home, current, kdf=KdfParams(1, 8192)) as store:
        store.credentials.append({"id": "cred-keep", "copies": [{"copy": "0"}]})
        store.save()
    stats = {"runs": 0, "kills": 0, "completed": 0, "changed_before_kill": 0, "seconds": 0.0}
    started = time.monotonic()
    for round_ in range(kills):
        where = f"wallet-cli round {round_}"
        new = f"cli-{round_ + 1}"
        proc = subprocess.Popen([*CIVICID, "wallet", "change-passphrase"], cwd=workdir, start_new_session=True,
                                env=_env({"CIVICID_WALLET_HOME": str(home), "CIVICID_WALLET_PASSPHRASE": current,
                                          "CIVICID_WALLET_NEW_PASSPHRASE": new}),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(*delay))
        finished = proc.poll() is not None
        if not finished:
            _killpg(proc)
            stats["kills"] += 1
        _, err = proc.communicate()
        stats["runs"] += 1
        if finished:
            _check(proc.returncode == 0, where, f"change-passphrase failed: {err[-300:]!r}")
            stats["completed"] += 1
        contents, opened_with = _open_either(home, [new, current] if not finished else [new], where)
        _check([c["id"] for c in contents["credentials"]] == ["cred-keep"], where, "the credentials changed")
        stats["changed_before_kill"] += (opened_with == new and not finished)
        current = opened_with
        log(f"{where}: {'completed' if finished else 'killed'}, opens with the {'new' if current == new else 'old'} passphrase")
    stats["seconds"] = round(time.monotonic() - started, 1)
    return stats


def summary_rows(results: dict[str, dict[str, Any]]) -> Iterator[str]:
    for name, stats in results.items():
        yield f"{name}: " + ", ".join(f"{k}={v}" for k, v in stats.items())
