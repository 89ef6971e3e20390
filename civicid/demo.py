"""``civicid demo``: the whole story, scripted against running services and told in plain words.

1. An officer of the office offers a national identity card to a citizen (the
   issuer's admin API); the offer is a QR code, written as a PNG file.
2. The citizen's wallet (the real ``civicid wallet`` CLI, as a separate process)
   reads the QR image, redeems the offer with the PIN and checks the office's
   key, accreditation and type on the registry.
3. A counter asks "senior bus pass" and then "over 18" (the verifier's counter
   API); each request is a QR code, written as a PNG file and decoded back; the
   wallet discloses only the claims each policy needs; the counter answers.
4. The office revokes the card; the counter's next check fails with
   ``status_revoked``.

The services are a running ``civicid up`` (its ``up.json`` in the data folder),
or one the demo starts itself in a temporary folder and stops at the end.
Nothing printed carries a claim value, a PIN, a token or a key.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, NoReturn

import click

from .up import RUNNING_FILE, child_setup, answers, cli_argv, default_data_dir, http_json

__all__ = ["demo", "DemoFailed", "CITIZEN"]

# A fictional citizen: 65 or older, living in Shenzhen (the senior bus pass's city).
CITIZEN: dict[str, Any] = {
    "given_name": "Mei",
    "family_name": "Zhang",
    "birthdate": "1955-03-14",
    "sex": 2,
    "nationalities": ["CN"],
    "personal_identifier": "440305-19550314-0001",
    "address": {
        "street_address": "1 Shennan Avenue",
        "locality": "Shenzhen",
        "region": "Guangdong",
        "postal_code": "518000",
        "country": "CN",
    },
}
UP_TIMEOUT = 90.0


class DemoFailed(Exception):
    """The story did not go as expected; the message says at which step."""

    code = "demo_failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Check:
    policy: str
    qr: str
    decision: bool | None = None
    disclosed: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "qr": self.qr, "decision": self.decision, "disclosed": self.disclosed,
                "reasons": self.reasons}


# -- QR codes ------------------------------------------------------------------


def write_qr(text: str, path: Path) -> None:
    """``text`` as a QR code PNG (error correction M, as a printed letter or a screen would use)."""
    import qrcode  # type: ignore[import-untyped]

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=4)
    qr.add_data(text)
    qr.make(fit=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    qr.make_image().save(str(path), format="PNG")


def read_qr(path: Path) -> str:
    """Decode the single QR code in the image at ``path`` (zxing-cpp), as a phone's camera would."""
    import zxingcpp
    from PIL import Image

    with Image.open(path) as image:
        codes = [c for c in zxingcpp.read_barcodes(image) if c.valid]
    if len(codes) != 1:
        raise DemoFailed(f"{path} does not hold exactly one readable QR code")
    return str(codes[0].text)


# -- the services -----------------------------------------------------------------


def _running(data_dir: Path) -> dict[str, Any] | None:
    """The info of a ``civicid up`` running on ``data_dir``, if every service answers."""
    try:
        info = json.loads((data_dir / RUNNING_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict):
        return None
    probes = {"registry": "/policy", "issuer": "/.well-known/openid-credential-issuer", "verifier": "/api/policies"}
    if all(isinstance(info.get(k), str) and answers(info[k] + p) for k, p in probes.items()):
        return info
    return None


@contextlib.contextmanager
def services(data_dir: Path | None, say: Callable[[str], None]) -> Iterator[dict[str, Any]]:
    """A running ``civicid up`` on ``data_dir`` (default: the usual folder), or one started for the demo."""
    found = _running(data_dir or default_data_dir())
    if found is not None:
        say(f"Using the civicid services already running from {found.get('data_dir')}.")
        yield found
        return
    temporary = data_dir is None
    folder = Path(tempfile.mkdtemp(prefix="civicid-demo-")) if temporary else data_dir
    assert folder is not None
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    log_path = folder / "logs" / "up.log"
    say("Starting a registry with its witness, an office's issuer and a counter's verifier on this machine"
        f" ({'a temporary folder' if temporary else folder})...")
    argv = cli_argv("up", "--json", "--data-dir", str(folder), *(["--port-base", "0"] if temporary else []))
    with open(log_path, "ab") as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                   preexec_fn=child_setup)
    ok = False
    try:
        info = _read_info(process, log_path)
        yield info
        ok = True
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        if temporary and ok:
            shutil.rmtree(folder, ignore_errors=True)
        elif temporary:
            say(f"(The services' logs are kept in {folder}.)")


def _read_info(process: subprocess.Popen[bytes], log_path: Path) -> dict[str, Any]:
    assert process.stdout is not None
    deadline = time.monotonic() + UP_TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DemoFailed(f"`civicid up` did not report ready within {UP_TIMEOUT:.0f} s; see {log_path}")
        ready, _, _ = select.select([process.stdout], [], [], min(remaining, 1.0))
        if ready:
            line = process.stdout.readline()
            if not line:
                process.wait(timeout=10)
                tail = [x for x in log_path.read_text(errors="replace").splitlines() if x.strip()][-1:]
                raise DemoFailed(f"`civicid up` stopped (status {process.returncode})" + (f": {tail[0]}" if tail else "")
                                 + f"; see {log_path}")
            try:
                info = json.loads(line)
            except ValueError:
                continue
            if isinstance(info, dict) and {"registry", "issuer", "verifier", "officer_token", "counter_token"} <= set(info):
                return info


# -- the actors -----------------------------------------------------------------


class Wallet:
    """The citizen's wallet: ``civicid wallet`` as a separate process, with its own home and passphrase."""

    def __init__(self, home: Path, registry: str, policy_file: str) -> None:
        self.home = home
        self.registry = registry
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CIVICID_")}
        self.env.update({
            "CIVICID_WALLET_PASSPHRASE": secrets.token_urlsafe(24),
            "CIVICID_WALLET_REGISTRY_POLICY": policy_file,
            "CIVICID_WALLET_LANG": "en",
        })

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = cli_argv("wallet", "--home", str(self.home), "--registry", self.registry, "--insecure-loopback", *args)
        return subprocess.run(argv, env=self.env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=90)

    def must(self, what: str, *args: str) -> str:
        done = self.run(*args)
        if done.returncode != 0:
            raise DemoFailed(f"the wallet could not {what}: {_last_line(done.stderr)}")
        return done.stdout


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _claim_names(claims: Any, prefix: str = "") -> list[str]:
    """Dotted paths of what the counter received (names only: values are never printed)."""
    if isinstance(claims, Mapping):
        names: list[str] = []
        for key, value in claims.items():
            names += _claim_names(value, f"{prefix}{key}.")
        return names
    return [prefix.rstrip(".")]


class Story:
    def __init__(self, info: Mapping[str, Any], out: Path, wallet_home: Path, say: Callable[[str], None]) -> None:
        self.info = info
        self.out = out
        self.say = say
        self.wallet = Wallet(wallet_home, str(info["registry"]), str(info["registry_policy"]))
        self.checks: list[Check] = []
        self.offer_qr = out / "1-offer.png"

    def _officer(self, path: str, body: Any = None, method: str | None = None) -> Any:
        status, answer = http_json(str(self.info["issuer"]) + path, body=body, token=str(self.info["officer_token"]),
                                   method=method)
        if status >= 300 or not isinstance(answer, dict):
            code = answer.get("code") if isinstance(answer, dict) else None
            raise DemoFailed(f"the issuer's admin API answered HTTP {status} to {path.split('?')[0]}" + (f" ({code})" if code else ""))
        return answer

    def _counter(self, path: str, body: Any = None) -> Any:
        url = path if path.startswith("http") else str(self.info["verifier"]) + path
        status, answer = http_json(url, body=body, token=str(self.info["counter_token"]))
        if status >= 300 or not isinstance(answer, dict):
            raise DemoFailed(f"the verifier's counter API answered HTTP {status}")
        return answer

    def issue(self) -> str:
        self.say("1. At the civil registry office, an officer offers a citizen a national identity card.")
        offer = self._officer("/admin/offers", {"credential_configuration_id": "national_id", "claims": CITIZEN})
        link, pin = str(offer["credential_offer"]), str(offer["tx_code"])
        write_qr(link, self.offer_qr)
        if read_qr(self.offer_qr) != link:
            raise DemoFailed("the offer QR code does not decode to the offer link")
        self.say(f"   The offer is a QR code ({self.offer_qr}); the PIN is handed over separately.")
        return self._receive(pin, str(offer["offer_id"]))

    def _receive(self, pin: str, offer_id: str) -> str:
        self.say("2. The citizen's wallet scans the QR code, redeems the offer with the PIN, and checks the office's key,")
        self.say("   its accreditation and the card's type on the registry before keeping the card.")
        self.wallet.must("be created", "init")
        received = json.loads(self.wallet.must("receive the card", "receive", "--qr", str(self.offer_qr), "--pin", pin, "--json"))
        copies = received[0].get("copies") if isinstance(received, list) and received and isinstance(received[0], dict) else None
        self.say(f"   The wallet holds the card{f' in {copies} unlinkable copies' if isinstance(copies, int) else ''}, "
                 "encrypted under the citizen's passphrase.")
        return offer_id

    def check(self, step: str, policy: str, question: str, expect: bool) -> Check:
        self.say(f"{step} A counter asks \"{question}\" and shows a QR code.")
        opened = self._counter("/api/requests", {"policy": policy})
        qr = self.out / f"{len(self.checks) + 2}-{policy}{'' if expect else '-after-revocation'}.png"
        write_qr(str(opened["request_uri"]), qr)
        link = read_qr(qr)
        if link != opened["request_uri"] or not link.startswith("openid4vp://"):
            raise DemoFailed("the counter's QR code does not decode to its openid4vp:// request")
        check = Check(policy, str(qr))
        done = self.wallet.run("present", link, "--yes", "--json")
        if expect and done.returncode != 0:
            raise DemoFailed(f"the wallet could not present the card: {_last_line(done.stderr)}")
        result = self._result(str(opened["result_url"]))
        check.decision = result.get("decision") is True
        check.disclosed = sorted(n for c in (result.get("claims") or {}).values() for n in _claim_names(c))
        check.reasons = [str(r.get("code")) for r in result.get("reasons") or [] if isinstance(r, Mapping)]
        self.checks.append(check)
        if check.decision:
            self.say(f"   The wallet disclosed only {', '.join(check.disclosed) or 'nothing'}; the counter answers: eligible.")
        else:
            self.say(f"   The counter answers: not eligible ({', '.join(check.reasons) or 'no reason given'}).")
        if check.decision is not expect:
            raise DemoFailed(f"the counter answered {'eligible' if check.decision else 'not eligible'} for {policy}, "
                             f"expected {'eligible' if expect else 'not eligible'} ({', '.join(check.reasons)})")
        return check

    def _result(self, url: str) -> dict[str, Any]:
        deadline = time.monotonic() + 15
        while True:
            result = self._counter(url)
            if result.get("state") == "done":
                return dict(result)
            if time.monotonic() > deadline:
                raise DemoFailed("the counter received no answer from the wallet")
            time.sleep(0.2)

    def revoke(self, offer_id: str) -> None:
        self.say("5. The citizen reports the card lost; the office revokes it.")
        # One card, several copies (one per holder key, each with its own status entry): revoke them all.
        found = self._officer(f"/admin/credentials?offer_id={offer_id}")["credentials"]
        if not found:
            raise DemoFailed("the office finds no credential issued for the offer")
        for credential in found:
            changed = self._officer(f"/admin/credentials/{credential['id']}/revoke", method="POST")
            if changed.get("status") != "revoked":
                raise DemoFailed("the office could not revoke the card")
        self.say("   The office's signed status list now marks the card revoked; no one is told whom it belonged to.")


def run_story(info: Mapping[str, Any], out: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """Run the story against the services in ``info``; raise :class:`DemoFailed` when a step goes wrong."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="civicid-wallet-") as home:
        story = Story(info, out, Path(home) / "wallet", say)
        offer_id = story.issue()
        story.check("3.", "senior-bus-pass", "senior bus pass", expect=True)
        story.check("4.", "age-over-18", "over 18", expect=True)
        story.revoke(offer_id)
        last = story.check("6.", "age-over-18", "over 18", expect=False)
        if "status_revoked" not in last.reasons:
            raise DemoFailed(f"after the revocation the counter refused for {', '.join(last.reasons)}, expected status_revoked")
    seconds = round(time.monotonic() - started, 1)
    say(f"Done in {seconds} s. The QR codes are in {out}.")
    return {
        "ok": True,
        "offer_qr": str(story.offer_qr),
        "checks": [c.to_json() for c in story.checks],
        "after_revocation": "refused: status_revoked",
        "seconds": seconds,
    }


def _fail(message: str) -> NoReturn:
    click.echo(f"error: demo_failed: {message}", err=True)
    raise SystemExit(1)


@click.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Use the `civicid up` running from this folder, or start one there "
                   "[default: the running one in the usual folder, else a temporary one].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("civicid-demo"), show_default=True,
              help="Folder for the QR code PNG files.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary instead of the story.")
def demo(data_dir: Path | None, out: Path, as_json: bool) -> None:
    """An officer issues a national ID, the wallet receives it from a QR code, counters check it, the office revokes it."""
    from .up import UpError

    say: Callable[[str], None] = (lambda _: None) if as_json else click.echo
    progress: Callable[[str], None] = (lambda _: None) if as_json else (lambda m: click.echo(m, err=True))
    try:
        with services(data_dir, progress) as info:
            summary = run_story(info, out.resolve(), say)
    except (DemoFailed, UpError) as exc:
        _fail(exc.message)
    except (OSError, ValueError, KeyError, TypeError, subprocess.SubprocessError) as exc:
        _fail(f"{type(exc).__name__} while running the story (run `civicid up` yourself to see the services' logs)")
    if as_json:
        click.echo(json.dumps(summary))
