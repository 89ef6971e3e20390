"""Startup time of the wallet CLI: `civicid wallet --help` and `civicid wallet list` must stay under 0.3 s.

Run: ``python bench/bench_wallet_startup.py [--runs N] [--limit SECONDS]``. It builds a
throwaway wallet (real Argon2id "interactive" cost, as `init` makes it) holding three
credentials, then times fresh processes, reporting the median and the worst run.
Exit status 1 when a median is over the limit, so CI can run it.

`list` is timed with `--offline`: what is measured is startup (imports, key
derivation, decryption, rendering), not the issuer's status-list server.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _wallet_with_credentials(home: Path, passphrase: str) -> None:
    import sdjwt
    from wallet.store import Store

    issuer = sdjwt.Ed25519PrivateKey.generate()
    with Store.create(home, passphrase) as store:
        for n in range(3):
            holder = sdjwt.Ed25519PrivateKey.generate()
            text = sdjwt.issue({"given_name": "Bench", "n": n}, disclosable=[("given_name",)], issuer_key=issuer,
                               kid="did:civic:bench#key-1", iss="did:civic:bench", vct="urn:civicid:national_id:1",
                               iat=int(time.time()), random=secrets.token_bytes,
                               holder_jwk=holder.public_key().public_jwk()).serialize()
            store.credentials.append({
                "id": f"bench{n:03d}", "vct": "urn:civicid:national_id:1", "iss": "did:civic:bench",
                "iat": int(time.time()), "exp": None, "claims": {"given_name": "Bench", "n": n},
                "disclosable": [["given_name"]], "issuer_names": {"en": "Bench office"},
                "type_metadata": {"name": "National ID", "display": [{"locale": "en", "name": "National ID"}]},
                "copies": [{"sd_jwt": text, "holder_key": holder.private_jwk(), "status": None, "used_by": []}],
            })
        store.save()


def _time(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--limit", type=float, default=0.3)
    args = parser.parse_args()
    civicid = shutil.which("civicid")
    base = [civicid] if civicid else [sys.executable, "-c", "from civicid.cli import main; main()"]
    tmp = Path(tempfile.mkdtemp(prefix="civicid-bench-"))
    try:
        home = tmp / "wallet"
        _wallet_with_credentials(home, "bench passphrase")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CIVICID_WALLET_")}
        env.update({"CIVICID_WALLET_HOME": str(home), "CIVICID_WALLET_PASSPHRASE": "bench passphrase"})
        cases = {
            "civicid wallet --help": base + ["wallet", "--help"],
            "civicid wallet list --offline": base + ["wallet", "list", "--offline"],
            "python -m wallet --help": [sys.executable, "-m", "wallet", "--help"],
        }
        failed = False
        for name, argv in cases.items():
            times = _time(argv, env, args.runs)
            median = statistics.median(times)
            verdict = "ok" if median <= args.limit else "TOO SLOW"
            failed |= median > args.limit
            print(f"{name:34s} median {median * 1000:6.1f} ms  best {min(times) * 1000:6.1f} ms  worst {max(times) * 1000:6.1f} ms  "
                  f"(limit {args.limit * 1000:.0f} ms) {verdict}")
        return 1 if failed else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
