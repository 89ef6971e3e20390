"""``civicid up``: the whole system on this machine, in one command.

Four processes on 127.0.0.1, each with its own folder and SQLite database
under one data folder, each started as ``civicid <role> serve`` (gunicorn):

* a **witness** (``registry witness``) that cosigns the registry's checkpoints;
* the **registry**, witnessed by it with a quorum of one, whose root authority
  is a DID created here;
* the **verifier** (service counter) with the standard policies;
* the **issuer** (one office), whose DID is created on the registry,
  accredited by the root authority and publishes its credential types.

The first run bootstraps that state and keeps it in the data folder (keys and
secrets in files of mode 0600, the folder 0700); later runs reuse it, so the
office, its officers, the counter token and every issued credential survive a
restart. Layout::

    state.json                  0600  root DID, office DID, passphrase, secrets, tokens, ports
    keys/root.key, root.next    0600  the root authority's signing and pre-rotation seeds
    registry-policy.json        0600  the trust policy clients pin (log key, witness, quorum, root)
    registry/ witness/ issuer/ verifier/   each service's keys and SQLite database
    logs/<service>.log          each service's output (never claim values or secrets)
    up.json                     0600  while running: what ``--json`` printed (``civicid demo`` reads it)

Nothing is an instruction to a service that a real deployment would not also
use: ``up`` only sets the ``CIVICID_<ROLE>_*`` variables documented for each role.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping, NoReturn

import click

__all__ = [
    "ROLES",
    "RUNNING_FILE",
    "Stack",
    "State",
    "UpError",
    "answers",
    "child_setup",
    "cli_argv",
    "default_data_dir",
    "http_json",
    "up",
    "write_private",
]

# Port offsets from --port-base, in this order.
ROLES = ("registry", "issuer", "verifier", "witness")
DEFAULT_PORT_BASE = 8700
ORIGIN = "registry.civicid.localhost/v1"
WITNESS_NAME = "witness.civicid.localhost"
OFFICER_USERNAME = "officer"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
STATE_FILE = "state.json"
RUNNING_FILE = "up.json"
POLICY_FILE = "registry-policy.json"
# Where each service answers once it is ready.
_HEALTH = {
    "registry": "/policy",
    "witness": "/vkey",
    "issuer": "/.well-known/openid-credential-issuer",
    "verifier": "/api/policies",
}


class UpError(Exception):
    """``civicid up`` cannot start or keep the system running; the message says what to do."""

    code = "up_failed"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class PortInUse(UpError):
    code = "port_in_use"


class ServiceFailed(UpError):
    code = "service_failed"


class BootstrapFailed(UpError):
    code = "bootstrap_failed"


class DataDirBusy(UpError):
    code = "data_dir_in_use"


class _Stop(BaseException):
    """Raised in the main thread by SIGINT / SIGTERM: stop everything."""


def default_data_dir() -> Path:
    """``$CIVICID_UP_DATA_DIR``, else ``$XDG_DATA_HOME/civicid`` (``~/.local/share/civicid``)."""
    configured = os.environ.get("CIVICID_UP_DATA_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "civicid"


def cli_argv(*args: str) -> list[str]:
    """The ``civicid`` console script as a command line for this very interpreter (works without PATH)."""
    return [sys.executable, "-c", "from civicid.cli import main; main()", *args]


# -- files -------------------------------------------------------------------


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600 (temporary file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


@dataclass
class State:
    """What the first run bootstrapped, kept in ``state.json`` (0600) so later runs reuse it."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "State":
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UpError(f"{path} is unreadable ({type(exc).__name__}); move the data folder away to start afresh",
                          "state_invalid") from exc
        if not isinstance(data, dict):
            raise UpError(f"{path} is not a JSON object; move the data folder away to start afresh", "state_invalid")
        return cls(path, data)

    def save(self) -> None:
        write_private(self.path, json.dumps(self.data, indent=2, sort_keys=True).encode("utf-8"))

    def secret(self, name: str, make: Callable[[], str]) -> str:
        """The stored secret ``name``, generated (randomly, never a constant) and saved on first use."""
        value = self.data.get(name)
        if not isinstance(value, str) or not value:
            value = make()
            self.data[name] = value
            self.save()
        return value


def _token(prefix: str, nbytes: int = 32) -> str:
    # A letter prefix keeps the value a string when a service parses its environment as JSON.
    return prefix + secrets.token_urlsafe(nbytes)


# -- ports and HTTP -----------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As gunicorn binds: a port in TIME_WAIT is free, a listening one is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _any_free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
            ports.append(int(sock.getsockname()[1]))
    finally:
        for sock in sockets:
            sock.close()
    return ports


def plan_ports(port_base: int | None, saved: Mapping[str, Any] | None) -> dict[str, int]:
    """Ports by role: ``port_base`` + 0..3; 0 = any free ports; None = the last run's, else 8700.."""
    if port_base is None and isinstance(saved, Mapping) and all(isinstance(saved.get(r), int) for r in ROLES):
        return {r: int(saved[r]) for r in ROLES}
    if port_base == 0:
        return dict(zip(ROLES, _any_free_ports(len(ROLES))))
    base = DEFAULT_PORT_BASE if port_base is None else port_base
    if not 1 <= base <= 65535 - len(ROLES):
        raise click.BadParameter(f"must be 0 or from 1 to {65535 - len(ROLES)}", param_hint="--port-base")
    return {role: base + i for i, role in enumerate(ROLES)}


def check_ports_free(ports: Mapping[str, int]) -> None:
    busy = [f"{port} ({role})" for role, port in ports.items() if not _port_free(port)]
    if busy:
        raise PortInUse(
            f"port {', '.join(busy)} is already in use on 127.0.0.1; stop what uses it, or choose other ports "
            "with --port-base N (N..N+3) or --port-base 0 (any free ports)"
        )


def http_json(url: str, *, body: Any = None, token: str | None = None, method: str | None = None,
              timeout: float = 10.0) -> tuple[int, Any]:
    """One JSON request on loopback; answers (status, parsed body or None)."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = int(response.status), response.read(4 * 1024 * 1024)
    except urllib.error.HTTPError as exc:
        status, raw = int(exc.code), exc.read(4 * 1024 * 1024)
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status) == 200
    except (OSError, ValueError):
        return False


# -- processes ---------------------------------------------------------------


def child_setup() -> None:  # pragma: no cover - runs in the child between fork and exec
    """``preexec_fn`` for servers: a clean signal mask, and SIGTERM when the parent dies (Linux)."""
    # Undo the parent's signal mask (inherited across exec), and die with the parent on Linux,
    # so that even a killed `civicid up` leaves no orphan server behind.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """No SIGINT/SIGTERM between fork and recording the child: a stop never loses track of a process."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _log_tail(path: Path, lines: int = 1) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


@dataclass
class Service:
    """One server process: ``civicid <role> serve`` (or ``registry witness``) with its environment and log."""

    name: str
    port: int
    argv: list[str]
    env: dict[str, str]
    log: Path
    cwd: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as handle, _signals_blocked():
            handle.write(f"--- civicid up: starting {self.name} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
            handle.flush()
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=handle,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=child_setup,
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def failure(self, what: str) -> ServiceFailed:
        tail = _log_tail(self.log)
        return ServiceFailed(f"the {self.name} {what}; see {self.log}" + (f" (last line: {tail})" if tail else ""))

    def wait_ready(self, deadline: float) -> None:
        url = self.url + _HEALTH[self.name]
        while not answers(url):
            if self.process is not None and self.process.poll() is not None:
                raise self.failure(f"exited with status {self.process.returncode} while starting")
            if time.monotonic() > deadline:
                raise self.failure(f"did not answer at {url} within {START_TIMEOUT:.0f} s")
            time.sleep(0.1)

    def signal(self, signum: int) -> None:
        if self.running():
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signum)

    def kill_group(self) -> None:
        """SIGKILL a master that did not stop in time, with its workers (they share the group it leads)."""
        # Only while the master lives: once it is reaped, its pid (and group id) may belong to someone else.
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)


def _child_env(extra: Mapping[str, str]) -> dict[str, str]:
    # The caller's own CIVICID_* settings (a config file, another database) must not leak into the stack.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVICID_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


# -- the stack ---------------------------------------------------------------


class Stack:
    """Bootstrap (first run) and run the four services under ``data_dir``; :meth:`stop` ends them all."""

    def __init__(self, data_dir: Path, port_base: int | None, say: Callable[[str], None] = lambda _: None) -> None:
        self.data_dir = data_dir.resolve()
        self.port_base = port_base
        self.say = say
        self.services: dict[str, Service] = {}
        self._lock: IO[str] | None = None
        self._log_vkey = self._witness_vkey = ""

    # Paths.
    def _p(self, *parts: str) -> Path:
        return self.data_dir.joinpath(*parts)

    def _lock_data_dir(self) -> None:
        _private_dir(self.data_dir)
        handle = open(self._p(".lock"), "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            raise DataDirBusy(f"another `civicid up` is running with the data folder {self.data_dir}; "
                              "stop it, or choose another with --data-dir") from exc
        self._lock = handle

    def start(self) -> dict[str, Any]:
        """Start everything and return what ``--json`` prints, once every service answers."""
        self._lock_data_dir()
        state = State.load(self._p(STATE_FILE))
        ports = plan_ports(self.port_base, state.data.get("ports"))
        check_ports_free(ports)
        state.data["ports"] = ports
        state.save()
        for name in ("keys", "logs", "registry", "witness", "issuer", "verifier"):
            _private_dir(self._p(name))
        urls = {role: f"http://127.0.0.1:{port}" for role, port in ports.items()}
        deadline = time.monotonic() + START_TIMEOUT

        root_did, policy = self._trust_anchor(state, urls)
        counter_token = state.secret("counter_token", lambda: _token("ctr_"))
        self._start_witness(ports["witness"])
        self._start_registry(ports["registry"], urls["witness"], root_did)
        self._start_verifier(ports["verifier"], urls["registry"], counter_token)
        self.say(f"starting the witness, the registry and the counter's verifier (logs in {self._p('logs')})")
        for name in ("witness", "registry"):
            self.services[name].wait_ready(deadline)
        self._check_policy(urls["registry"], policy)

        issuer_env = self._issuer_env(state, urls)
        if not state.data.get("root_submitted"):
            self.say("bootstrapping: the root authority's DID goes on the registry")
            self._submit_root(urls["registry"])
            state.data["root_submitted"] = True
            state.save()
        if not state.data.get("office_did"):
            self.say("bootstrapping: the office creates its DID, is accredited by the root authority and publishes its credential types")
            self._init_office(state, urls["registry"], issuer_env)
            issuer_env = self._issuer_env(state, urls)
        officer_password = state.secret("officer_password", lambda: secrets.token_urlsafe(12))
        if not state.data.get("officer_added"):
            self._issuer_cli(issuer_env, "officer", "add", "--username", OFFICER_USERNAME, "--role", "supervisor",
                             extra_env={"CIVICID_ISSUER_OFFICER_PASSWORD": officer_password})
            state.data["officer_added"] = True
            state.save()
        # API tokens expire (90 days): a folder reused near or after that gets a fresh one.
        expires = state.data.get("officer_token_expires")
        if not state.data.get("officer_token") or not isinstance(expires, int) or expires - time.time() < 86400:
            token = self._issuer_cli(issuer_env, "token", "create", "--name", "civicid-up", "--role", "supervisor",
                                     "--days", "90").strip()
            if not token:
                raise BootstrapFailed("`civicid issuer token create` printed no token")
            state.data["officer_token"] = token
            state.data["officer_token_expires"] = int(time.time()) + 90 * 86400
            state.save()
        self._start_issuer(ports["issuer"], issuer_env)
        self.say("starting the office's issuer")
        for name in ("verifier", "issuer"):
            self.services[name].wait_ready(deadline)

        info = {
            "registry": urls["registry"],
            "issuer": urls["issuer"],
            "verifier": urls["verifier"],
            "witness": urls["witness"],
            "officer_token": state.data["officer_token"],
            "counter_token": counter_token,
            "officer_console": urls["issuer"] + "/console/",
            "counter_screen": urls["verifier"] + "/counter",
            "officer_username": OFFICER_USERNAME,
            "officer_password": officer_password,
            "office_did": state.data["office_did"],
            "root_did": root_did,
            "registry_policy": str(self._p(POLICY_FILE)),
            "data_dir": str(self.data_dir),
        }
        write_private(self._p(RUNNING_FILE), json.dumps({**info, "pid": os.getpid()}).encode("utf-8"))
        return info

    # Trust anchor: root authority, log key, witness key, the policy clients pin.
    def _trust_anchor(self, state: State, urls: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
        from registry.bundle import TrustPolicy
        from registry.checkpoint import CosignatureSigner, Ed25519Signer
        from registry.config import load_seed
        from registry.did import KeySpec, create_op
        from sdjwt import Ed25519PrivateKey

        # The seeds are created with fresh randomness (mode 0600) on the first run only.
        log_seed = load_seed(self._p("registry", "log-key.seed"))
        witness_seed = load_seed(self._p("witness", "witness-key.seed"))
        root_seed = load_seed(self._p("keys", "root.key"))
        next_seed = load_seed(self._p("keys", "root.next"))
        entry_path = self._p("keys", "root.entry")
        root_did = state.data.get("root_did")
        if not isinstance(root_did, str) or not entry_path.exists():
            entry, root_did = create_op([KeySpec("key-1", Ed25519PrivateKey(root_seed))], [],
                                        [Ed25519PrivateKey(next_seed).public_key()], int(time.time()))
            write_private(entry_path, entry.raw)
            state.data.update(root_did=str(root_did), root_submitted=False)
            state.save()
        log_verifier = Ed25519Signer(ORIGIN, log_seed).verifier
        witness_verifier = CosignatureSigner(WITNESS_NAME, witness_seed).verifier
        self._log_vkey, self._witness_vkey = log_verifier.vkey, witness_verifier.vkey
        policy = TrustPolicy(ORIGIN, log_verifier, (witness_verifier,), 1, (str(root_did),)).to_json()
        write_private(self._p(POLICY_FILE), json.dumps(policy, indent=2).encode("utf-8"))
        return str(root_did), policy

    def _check_policy(self, registry_url: str, policy: Mapping[str, Any]) -> None:
        status, served = http_json(registry_url + "/policy")
        if status != 200 or served != dict(policy):
            raise ServiceFailed(f"the registry at {registry_url} serves a trust policy other than the one in "
                                f"{self._p(POLICY_FILE)}; is another registry on that port?")

    def _submit_root(self, registry_url: str) -> None:
        from registry.client import submit_entry
        from registry.errors import RegistryError

        try:
            submit_entry(registry_url, self._p("keys", "root.entry").read_bytes())
        except RegistryError as exc:
            raise BootstrapFailed(f"the registry refused the root authority's DID: {exc.message}") from exc

    # Services.
    def _add(self, name: str, port: int, argv: list[str], env: Mapping[str, str]) -> None:
        service = Service(name, port, argv, _child_env(env), self._p("logs", f"{name}.log"), self._p(name))
        self.services[name] = service
        service.start()

    def _start_witness(self, port: int) -> None:
        self._add("witness", port, cli_argv("registry", "witness", "--port", str(port), "--name", WITNESS_NAME,
                                            "--log", f"{ORIGIN} {self._log_vkey}", "--db", str(self._p("witness", "witness.db"))),
                  {"CIVICID_WITNESS_INSTANCE_PATH": str(self._p("witness")),
                   "CIVICID_WITNESS_KEY_FILE": str(self._p("witness", "witness-key.seed"))})

    def _start_registry(self, port: int, witness_url: str, root_did: str) -> None:
        self._add("registry", port, cli_argv("registry", "serve", "--port", str(port), "--workers", "1",
                                             "--db", str(self._p("registry", "registry.db"))), {
            "CIVICID_REGISTRY_INSTANCE_PATH": str(self._p("registry")),
            "CIVICID_REGISTRY_ORIGIN": ORIGIN,
            "CIVICID_REGISTRY_LOG_KEY_FILE": str(self._p("registry", "log-key.seed")),
            "CIVICID_REGISTRY_ROOTS": root_did,
            # "<base URL> <vkey>": the ledger appends /add-checkpoint itself.
            "CIVICID_REGISTRY_WITNESSES": f"{witness_url} {self._witness_vkey}",
            "CIVICID_REGISTRY_QUORUM": "1",
            "CIVICID_REGISTRY_CHECKPOINT_INTERVAL": "0.25",
        })

    def _start_verifier(self, port: int, registry_url: str, counter_token: str) -> None:
        self._add("verifier", port, cli_argv("verifier", "serve", "--port", str(port), "--workers", "1", "--threads", "4",
                                             "--db", str(self._p("verifier", "verifier.db"))), {
            "CIVICID_VERIFIER_INSTANCE_PATH": str(self._p("verifier")),
            "CIVICID_VERIFIER_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "CIVICID_VERIFIER_API_TOKENS": json.dumps([counter_token]),
            "CIVICID_VERIFIER_REGISTRY_URL": registry_url,
            "CIVICID_VERIFIER_REGISTRY_POLICY": str(self._p(POLICY_FILE)),
            # Fetch the office's status list at every check, so a revocation shows at once
            # (a deployment caches it for the list's ttl).
            "CIVICID_VERIFIER_STATUS_MAX_TTL": "0",
        })

    def _issuer_env(self, state: State, urls: Mapping[str, str]) -> dict[str, str]:
        env = {
            "CIVICID_ISSUER_DATABASE": str(self._p("issuer", "issuer.db")),
            "CIVICID_ISSUER_PUBLIC_URL": urls["issuer"],
            "CIVICID_ISSUER_SECRET_KEY": state.secret("issuer_secret_key", lambda: _token("sk_", 48)),
            "CIVICID_ISSUER_KEYSTORE": str(self._p("issuer", "office.keystore")),
            "CIVICID_ISSUER_KEYSTORE_PASSPHRASE": state.secret("keystore_passphrase", lambda: _token("pp_")),
            "CIVICID_ISSUER_REGISTRY_URL": urls["registry"],
            "CIVICID_ISSUER_REGISTRY_POLICY": str(self._p(POLICY_FILE)),
            # Plain http on loopback: the browser would drop a Secure / __Host- session cookie.
            "CIVICID_ISSUER_SESSION_COOKIE_SECURE": "false",
            "CIVICID_ISSUER_SESSION_COOKIE_NAME": "civicid-issuer-session",
        }
        if state.data.get("office_did"):
            env["CIVICID_ISSUER_DID"] = state.data["office_did"]
            env["CIVICID_ISSUER_KID"] = state.data["office_kid"]
        return env

    def _issuer_cli(self, env: Mapping[str, str], *args: str, extra_env: Mapping[str, str] | None = None) -> str:
        done = subprocess.run(cli_argv("issuer", *args), env=_child_env({**env, **(extra_env or {})}), cwd=self._p("issuer"),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            line = (done.stderr.strip().splitlines() or ["no message"])[-1]
            command = " ".join(a for a in args if not a.startswith("-"))[:40]
            raise BootstrapFailed(f"`civicid issuer {command}` failed: {line}")
        return done.stdout

    def _init_office(self, state: State, registry_url: str, env: Mapping[str, str]) -> None:
        keystore = self._p("issuer", "office.keystore")
        partial = self._p("issuer", "office.keystore.new")
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()  # A previous run stopped half-way: its DID is abandoned.
        out = self._issuer_cli(env, "init", "--keystore", str(partial), "--registry-url", registry_url,
                               "--authority-key", str(self._p("keys", "root.key")))
        try:
            created = json.loads(out.strip().splitlines()[0])
            did, kid, accredited = str(created["did"]), str(created["kid"]), created["accredited"]
        except (ValueError, KeyError, IndexError) as exc:
            raise BootstrapFailed("`civicid issuer init` printed no JSON result") from exc
        if accredited is not True:
            raise BootstrapFailed("the root authority did not accredit the office")
        os.replace(partial, keystore)
        state.data.update(office_did=did, office_kid=kid)
        state.save()

    def _start_issuer(self, port: int, env: Mapping[str, str]) -> None:
        self._add("issuer", port, cli_argv("issuer", "serve", "--port", str(port), "--workers", "1", "--threads", "4"), env)

    # Running and stopping.
    def watch(self) -> NoReturn:
        """Block until a service exits on its own (an error) or a signal stops us."""
        while True:
            for service in self.services.values():
                if not service.running():
                    assert service.process is not None
                    raise service.failure(f"stopped unexpectedly (status {service.process.returncode})")
            time.sleep(0.5)

    def stop(self) -> None:
        """SIGTERM every service (gunicorn's graceful stop), wait, then SIGKILL what is left; no orphans."""
        with _signals_blocked():
            order = [self.services[n] for n in ("issuer", "verifier", "registry", "witness") if n in self.services]
            for service in order:
                service.signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            for service in order:
                if service.process is None:
                    continue
                try:
                    service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    service.kill_group()
            with contextlib.suppress(FileNotFoundError):
                self._p(RUNNING_FILE).unlink()
            if self._lock is not None:
                self._lock.close()
                self._lock = None


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop(signum)


def _human(info: Mapping[str, Any]) -> str:
    demo = "civicid demo"
    if Path(info["data_dir"]) != default_data_dir().resolve():
        demo += f" --data-dir {info['data_dir']}"
    return "\n".join([
        f"civicid is up (data in {info['data_dir']}).",
        "",
        f"  officer console  {info['officer_console']}",
        f"                   sign in as {info['officer_username']} / {info['officer_password']}",
        f"  counter screen   {info['counter_screen']}",
        f"                   counter token {info['counter_token']}",
        f"  registry         {info['registry']}  (witness {info['witness']})",
        "",
        f"Run `{demo}` in another terminal to watch the whole story. Press Ctrl-C to stop.",
    ])


@click.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="CIVICID_UP_DATA_DIR", default=None,
              help="Folder for every service's keys and SQLite database [env CIVICID_UP_DATA_DIR; "
                   "default $XDG_DATA_HOME/civicid].")
@click.option("--port-base", type=click.IntRange(0, 65535), default=None,
              help="Ports N (registry), N+1 (issuer), N+2 (verifier), N+3 (witness); 0 = any free ports "
                   "[default: the last run's, else 8700].")
@click.option("--json", "as_json", is_flag=True,
              help="Once every service answers, print one JSON line: the base URLs of registry, issuer and verifier, "
                   "officer_token and counter_token.")
@click.option("--verbose", is_flag=True, help="Show a traceback for errors.")
def up(data_dir: Path | None, port_base: int | None, as_json: bool, verbose: bool) -> None:
    """Run a registry with a witness, an issuer (one office) and a verifier on this machine, until Ctrl-C."""
    say: Callable[[str], None] = lambda message: click.echo(message, err=True)  # noqa: E731
    stack = Stack(data_dir or default_data_dir(), port_base, say)
    previous = {s: signal.signal(s, _raise_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    failed: UpError | None = None
    try:
        info = stack.start()
        if as_json:
            click.echo(json.dumps(info, separators=(",", ":")))
        else:
            click.echo(_human(info))
        sys.stdout.flush()
        stack.watch()
    except _Stop:
        say("stopping...")
    except UpError as exc:
        failed = exc
        if verbose:
            import traceback

            traceback.print_exc()
    finally:
        stack.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if failed is not None:
        click.echo(f"error: {failed.code}: {failed.message}", err=True)
        sys.exit(1)
    say("stopped")


def remove_data_dir(path: Path) -> None:
    """Remove a data folder ``up`` made (the demo's temporary one)."""
    shutil.rmtree(path, ignore_errors=True)
