"""The encrypted credential store: secrets at rest for when the environment does not hold them.

One file (`MLC_CREDENTIALS_PATH`, default `data/credentials.enc`) holds every stored secret, encrypted
and authenticated as a whole with Fernet (AES-128-CBC + HMAC-SHA256, `cryptography`). The key is
`MLC_SECRET_KEY` (a Fernet key: 32 random bytes, URL-safe base64), else the file named by
`MLC_SECRET_KEY_FILE`, else `credentials.key` beside the store; a key file must be readable by its
owner only. The first write with no key anywhere makes that key file (mode 0600).

- `get(name)`: an environment variable, when set and not empty, wins; else the stored value; else None.
  One exception: a value Workday or Slack has since *rotated away* (the store remembers a hash of the
  values each rotation replaced) is dead, so the stored successor is used instead of it.
- Every write is read-modify-write under a lock (an flock on `<store>.lock`, re-entrant within the
  process), to a temporary file (0600) that replaces the store with `os.replace`: a reader sees the
  old store or the new one, never half of one, and a rotated token is never lost to a concurrent write.
- A wrong key or a modified file raises `CredentialStoreError` naming the file and what to do; it
  never reads as "nothing stored".
- No value ever appears in an exception, a log line or a repr.

No Dagster here: the CLI, the resources and the Slack app all use it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger(__name__)

DEFAULT_STORE_PATH = "data/credentials.enc"
STORE_FORMAT = "mlc-dagster-credentials"
STORE_VERSION = 1
KEY_FILE_NAME = "credentials.key"
SUPERSEDED_KEPT = 5  # hashes of rotated-away values remembered per name

# The secrets the product reads (CONTRACT.md); others may be stored too (e.g. SLACK_APP_TOKEN).
KNOWN_SECRETS = (
    "WORKDAY_PASSWORD",
    "WORKDAY_CLIENT_SECRET",
    "WORKDAY_REFRESH_TOKEN",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_CLIENT_SECRET",
    "SLACK_REFRESH_TOKEN",
    "SLACK_APP_TOKEN",
)


class CredentialStoreError(Exception):
    """The store cannot be read or written; the message names the file and what to do."""


class WrongKeyError(CredentialStoreError):
    """The store was encrypted with another key."""


class TamperedStoreError(CredentialStoreError):
    """The store failed its integrity check, or is not a credential store at all."""


class CredentialKeyError(CredentialStoreError):
    """The key is missing, malformed, or its file is readable by others."""


class MissingCredentialError(CredentialStoreError):
    """A secret the product needs is neither in the environment nor in the store."""


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def key_id(key: bytes) -> str:
    """A short, non-secret name of a key: tells "wrong key" apart from "modified file"."""
    return hashlib.sha256(b"mlc-dagster key id:" + key).hexdigest()[:16]


def generate_key() -> bytes:
    return Fernet.generate_key()


def _parse_key(text: str | bytes, source: str) -> bytes:
    raw = text.strip() if isinstance(text, bytes) else text.strip().encode("ascii", "replace")
    try:
        if len(base64.urlsafe_b64decode(raw)) == 32:
            return raw
    except (binascii.Error, ValueError):
        pass
    raise CredentialKeyError(f"{source} is not a valid key: expected 32 random bytes in URL-safe base64 "
                             "(44 characters), as `mlc-dagster credentials rotate-key` or Fernet.generate_key() "
                             "makes")


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data`, mode 0600: a temporary file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # make the rename durable
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def check_private(path: Path, what: str) -> None:
    """Refuse a key file that anyone but its owner can read or write."""
    info = path.stat()
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialKeyError(f"{what} {path} is accessible to group or others "
                                 f"(mode {stat.S_IMODE(info.st_mode):o}): run `chmod 600 {path}`")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise CredentialKeyError(f"{what} {path} belongs to another user (uid {info.st_uid}): it must be "
                                 "yours alone")


@dataclass(frozen=True)
class StoredSecret:
    name: str
    updated_at: str
    overridden_by_environment: bool


class CredentialStore:
    """The encrypted file of secrets. Cheap to make: nothing is read until asked."""

    # One lock (and one depth count) per store file, shared by every instance in the process: flock
    # locks are per open file, so a second instance taking its own flock would wait for the first.
    _locks: dict[Path, tuple[threading.RLock, threading.local]] = {}
    _locks_guard = threading.Lock()

    def __init__(self, path: str | Path | None = None, *, key: str | bytes | None = None,
                 key_file: str | Path | None = None, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ
        self.path = Path(path or self.environ.get("MLC_CREDENTIALS_PATH") or DEFAULT_STORE_PATH)
        self._explicit_key = key
        self._explicit_key_file = Path(key_file) if key_file else None
        with CredentialStore._locks_guard:
            self._thread_lock, self._depth = CredentialStore._locks.setdefault(
                self.path.resolve(), (threading.RLock(), threading.local()))

    def __repr__(self) -> str:
        return f"CredentialStore({str(self.path)!r})"

    # -- the key ----------------------------------------------------------------------------------

    @property
    def key_file(self) -> Path:
        """Where the key is read from (and written to) when it is not given directly."""
        named = self._explicit_key_file or self.environ.get("MLC_SECRET_KEY_FILE")
        return Path(named) if named else self.path.with_name(KEY_FILE_NAME)

    def key_source(self) -> str:
        if self._explicit_key is not None:
            return "the key given"
        if self.environ.get("MLC_SECRET_KEY"):
            return "MLC_SECRET_KEY"
        return f"key file {self.key_file}"

    def _key(self, *, create: bool = False) -> bytes | None:
        if self._explicit_key is not None:
            return _parse_key(self._explicit_key, "the key given")
        if self.environ.get("MLC_SECRET_KEY"):
            return _parse_key(self.environ["MLC_SECRET_KEY"], "MLC_SECRET_KEY")
        path = self.key_file
        if path.exists():
            check_private(path, "key file")
            return _parse_key(path.read_bytes(), f"key file {path}")
        pending = self._pending_key_file()
        if pending.exists():  # a rotation stopped between writing the new key and renaming it
            check_private(pending, "key file")
            return None
        if not create:
            return None
        key = generate_key()
        write_private(path, key + b"\n")
        log.warning("made a new credential-store key in %s (mode 0600): back it up; without it the store "
                    "cannot be read", path)
        return key

    def _pending_key_file(self) -> Path:
        return self.key_file.with_name(self.key_file.name + ".new")

    def _no_key_message(self) -> str:
        return (f"the credential store {self.path} exists but no key was found: set MLC_SECRET_KEY to the "
                f"store's key, or MLC_SECRET_KEY_FILE to a file holding it (mode 0600; default {self.key_file})")

    # -- reading ----------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.path.exists()

    def _load(self) -> dict[str, dict[str, Any]]:
        """Every stored entry (name -> {"value", "updated_at", "supersedes"}); {} when there is no store."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            envelope = json.loads(raw)
            if not isinstance(envelope, dict) or envelope.get("format") != STORE_FORMAT:
                raise ValueError("not a credential store")
            if envelope.get("version") != STORE_VERSION:
                raise CredentialStoreError(f"the credential store {self.path} has version {envelope.get('version')}; "
                                           f"this mlc-dagster reads version {STORE_VERSION}")
            stored_id = str(envelope["key_id"])
            token = str(envelope["data"]).encode("ascii")
        except CredentialStoreError:
            raise
        except (ValueError, KeyError, TypeError, UnicodeError):
            raise TamperedStoreError(
                f"{self.path} is not a readable credential store (damaged or not made by mlc-dagster): restore "
                "it from a backup, or move it away and store the credentials again with "
                "`mlc-dagster credentials set`") from None
        key = self._key_for(stored_id)
        try:
            plain = Fernet(key).decrypt(token)
        except InvalidToken:
            raise TamperedStoreError(
                f"the credential store {self.path} failed its integrity check: it was modified or damaged "
                "after it was written. Restore it from a backup, or move it away and store the credentials "
                "again with `mlc-dagster credentials set`") from None
        try:
            entries = json.loads(plain)["secrets"]
        except (ValueError, KeyError, TypeError):
            entries = None
        if not isinstance(entries, dict):
            raise TamperedStoreError(f"the credential store {self.path} decrypts but holds no secrets table: "
                                     "restore it from a backup")
        return entries

    def _key_for(self, stored_id: str) -> bytes:
        key = self._key()
        if key is not None and key_id(key) == stored_id:
            return key
        pending = self._pending_key_file()
        if self._explicit_key is None and not self.environ.get("MLC_SECRET_KEY") and pending.exists():
            check_private(pending, "key file")
            candidate = _parse_key(pending.read_bytes(), f"key file {pending}")
            if key_id(candidate) == stored_id:
                os.replace(pending, self.key_file)  # finish the interrupted rotation
                return candidate
        if key is None:
            raise CredentialKeyError(self._no_key_message())
        raise WrongKeyError(
            f"the credential store {self.path} was encrypted with a different key than {self.key_source()} "
            f"(store key id {stored_id}, given key id {key_id(key)}): set MLC_SECRET_KEY or "
            "MLC_SECRET_KEY_FILE to the key last used with `mlc-dagster credentials set` or `rotate-key`")

    def stored(self, name: str) -> str | None:
        """The stored value alone, ignoring the environment."""
        entry = self._load().get(name)
        return str(entry["value"]) if entry else None

    def get(self, name: str) -> str | None:
        """The value to use: the environment's when set (unless since rotated away), else the stored one."""
        from_env = self.environ.get(name)
        if from_env:
            if not self.exists():
                return from_env
            try:
                entry = self._load().get(name)
            except CredentialStoreError as exc:  # the environment has it: the store is not needed
                log.warning("credential store not read while checking %s for rotation: %s", name, exc)
                return from_env
            if entry and _fingerprint(from_env) in entry.get("supersedes", ()):
                log.warning("%s in the environment was rotated away and no longer works; using its successor "
                            "from the credential store (update or unset the variable)", name)
                return str(entry["value"])
            return from_env
        return self.stored(name)

    def require(self, name: str, what: str = "") -> str:
        value = self.get(name)
        if not value:
            raise MissingCredentialError(
                f"{name}{f' ({what})' if what else ''} is not set: export it, or store it with "
                f"`mlc-dagster credentials set {name}` (credential store {self.path})")
        return value

    def catalog(self) -> list[StoredSecret]:
        """Names and dates of what is stored; never a value."""
        return [StoredSecret(name, str(entry.get("updated_at", "")), bool(self.environ.get(name)))
                for name, entry in sorted(self._load().items())]

    # -- writing ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive across processes (flock) and threads; re-entrant within a thread."""
        with self._thread_lock:
            depth = getattr(self._depth, "n", 0)
            if depth:
                self._depth.n = depth + 1
                try:
                    yield
                finally:
                    self._depth.n -= 1
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                self._depth.n = 1
                try:
                    yield
                finally:
                    self._depth.n = 0
                    fcntl.flock(descriptor, fcntl.LOCK_UN)
            finally:
                os.close(descriptor)

    def _save(self, entries: dict[str, dict[str, Any]], key: bytes) -> None:
        token = Fernet(key).encrypt(json.dumps({"secrets": entries}, sort_keys=True).encode("utf-8"))
        envelope = {"format": STORE_FORMAT, "version": STORE_VERSION, "key_id": key_id(key),
                    "data": token.decode("ascii")}
        write_private(self.path, json.dumps(envelope, indent=1).encode("utf-8") + b"\n")

    def _write_key(self) -> bytes:
        key = self._key(create=not self.exists())
        if key is None:
            raise CredentialKeyError(self._no_key_message())
        return key

    def set_many(self, values: Mapping[str, str], *, replaces: Mapping[str, str | None] | None = None) -> None:
        """Store several values in one atomic write (e.g. a rotated access token with its refresh token).

        `replaces[name]` is the value this one succeeds (a rotated token): remembered by hash, so that
        a stale copy of it in the environment is known to be dead."""
        for name, value in values.items():
            _check_name(name)
            if not value:
                raise CredentialStoreError(f"{name}: an empty value cannot be stored; use `delete` instead")
        with self.lock():
            entries = self._load()
            key = self._write_key()
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            for name, value in values.items():
                old = entries.get(name, {})
                supersedes = [str(h) for h in old.get("supersedes", [])]
                if replaces and name in replaces:  # a rotation: the value(s) it replaces are dead
                    for previous in (replaces[name], old.get("value")):
                        if previous and previous != value and _fingerprint(previous) not in supersedes:
                            supersedes.append(_fingerprint(previous))
                entries[name] = {"value": value, "updated_at": now, "supersedes": supersedes[-SUPERSEDED_KEPT:]}
            self._save(entries, key)

    def set(self, name: str, value: str, *, replaces: str | None = None) -> None:
        self.set_many({name: value}, replaces={name: replaces} if replaces is not None else None)

    def delete(self, name: str) -> bool:
        with self.lock():
            entries = self._load()
            if name not in entries:
                return False
            del entries[name]
            self._save(entries, self._write_key())
            return True

    def rotate_key(self, new_key: bytes | None = None) -> bytes:
        """Re-encrypt every credential under a new key; returns it.

        With a key file, the new key is written beside it first (`<file>.new`), then the store, then
        the key file is replaced: a crash in between leaves a store that the next read opens with the
        pending key (and finishes the rename). With MLC_SECRET_KEY the caller must hand the new key to
        the operator *before* this re-encrypts (see the CLI), since the variable cannot be changed here.
        """
        new_key = _parse_key(new_key, "the new key") if new_key else generate_key()
        with self.lock():
            if not self.exists():
                raise CredentialStoreError(f"there is no credential store at {self.path} to rotate")
            entries = self._load()  # with the current key: a wrong key stops here
            from_file = self._explicit_key is None and not self.environ.get("MLC_SECRET_KEY")
            if from_file:
                write_private(self._pending_key_file(), new_key + b"\n")
            self._save(entries, new_key)
            if from_file:
                os.replace(self._pending_key_file(), self.key_file)
            elif self._explicit_key is not None:
                self._explicit_key = new_key
        return new_key


def _check_name(name: str) -> None:
    if not name or not all(c.isupper() or c.isdigit() or c == "_" for c in name) or name[0].isdigit():
        raise CredentialStoreError(f"{name!r} is not a credential name: use the environment variable's name, "
                                   "e.g. WORKDAY_PASSWORD")


def default_store() -> CredentialStore:
    """The store the environment names (MLC_CREDENTIALS_PATH, MLC_SECRET_KEY / MLC_SECRET_KEY_FILE)."""
    return CredentialStore()


def get_secret(name: str, store: CredentialStore | None = None) -> str | None:
    return (store or default_store()).get(name)
