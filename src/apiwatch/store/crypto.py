"""Keys for the store: AES-GCM data keys (with ids, for rotation), a blind-index key, and the
Ed25519 key that signs checkpoints — kept in one owner-only key file beside the database.

The key file is JSON (base64 values), created on first use with mode 0600; one that group or
others may read is refused (`apiwatch.store._filemode.check_private_file`). ``APIWATCH_DATA_KEY``
(base64 of 32 bytes, as ``apiwatch keygen`` prints) overrides the current data key, so a deployment
can keep that key in a secret manager instead of on disk: it is held in memory only, never written
to the key file. A data key's id is a fingerprint of the key itself (key files written before that
keep the counter ids stored in them), so one id never names two different keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from apiwatch.model import ApiwatchError, ConfigError
from apiwatch.store._filemode import check_private_file

__all__ = ["DecryptError", "Keyring", "data_key_id", "generate_data_key"]

_NONCE = 12
_ENV_DATA_KEY = "APIWATCH_DATA_KEY"
_INDEX_CACHE = 4096


class DecryptError(ApiwatchError):
    """A payload did not decrypt: wrong key, or the ciphertext was altered."""


def generate_data_key() -> str:
    """A new 256-bit data key, base64 (what ``apiwatch keygen`` prints)."""
    return base64.b64encode(os.urandom(32)).decode()


def data_key_id(key: bytes) -> int:
    """The id of a data key: a keyed fingerprint, 31 bits (it fits every back end's integer)."""
    digest = hmac.new(key, b"apiwatch-data-key-id", hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise ConfigError(f"{what}: not valid base64") from None


@dataclass
class Keyring:
    """All the keys one store uses; `load_or_create` is the usual way to get one."""

    data_keys: dict[int, bytes]
    current: int
    index_key: bytes
    signing_key: Ed25519PrivateKey
    path: Path | None = None
    created: bool = False
    #: Ids of data keys given through the environment: kept in memory, never saved.
    memory_only: set[int] = field(default_factory=set)
    saved_current: int = 0  # the current key as the key file names it
    _index_cache: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    # -- persistence -----------------------------------------------------------------------

    @classmethod
    def load_or_create(cls, path: Path) -> Keyring:
        """Read the key file, or create it (0600) when it does not exist yet."""
        keyring = cls.load(path) if path.exists() else cls._create(path)
        override = os.environ.get(_ENV_DATA_KEY)
        if override:
            keyring.use_data_key(_unb64(override, _ENV_DATA_KEY), memory_only=True)
        return keyring

    @classmethod
    def load(cls, path: Path) -> Keyring:
        """Read the key file; `ConfigError` when it is damaged or other users may read it."""
        check_private_file(path, "key file")
        try:
            doc = json.loads(path.read_text())
            data_keys = {int(k): _unb64(v, "data key") for k, v in doc["data_keys"].items()}
            signing = Ed25519PrivateKey.from_private_bytes(_unb64(doc["signing_key"], "signing"))
            keyring = cls(
                data_keys=data_keys,
                current=int(doc["current"]),
                index_key=_unb64(doc["index_key"], "index key"),
                signing_key=signing,
                path=path,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"key file {path}: unreadable ({exc})") from None
        if keyring.current not in keyring.data_keys:
            raise ConfigError(f"key file {path}: current data key {keyring.current} is missing")
        keyring.saved_current = keyring.current
        return keyring

    @classmethod
    def _create(cls, path: Path) -> Keyring:
        first = os.urandom(32)
        keyring = cls(
            data_keys={data_key_id(first): first},
            current=data_key_id(first),
            index_key=os.urandom(32),
            signing_key=Ed25519PrivateKey.generate(),
            path=path,
            created=True,
            saved_current=data_key_id(first),
        )
        try:
            tmp = keyring._write_temp(path)
        except OSError as exc:
            raise ConfigError(f"key file {path}: cannot create ({exc.strerror or exc})") from None
        try:
            # A hard link never replaces an existing file: when two collectors start at once,
            # the second uses the first one's keys instead of overwriting them (which would
            # leave rows sealed under a key that no longer exists anywhere).
            os.link(tmp, path)
        except FileExistsError:
            return cls.load(path)
        except OSError:  # a file system without hard links
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return keyring

    def save(self) -> None:
        """Write the key file atomically, readable by its owner only (environment keys left out)."""
        if self.path is None:
            return
        try:
            os.replace(self._write_temp(self.path), self.path)
        except OSError as exc:
            raise ConfigError(
                f"key file {self.path}: cannot write ({exc.strerror or exc})"
            ) from None

    def _write_temp(self, path: Path) -> Path:
        """The key file's content in a new owner-only file beside ``path`` (fsync'd)."""
        raw_signing = self.signing_key.private_bytes_raw()
        saved = {k: v for k, v in sorted(self.data_keys.items()) if k not in self.memory_only}
        doc = {
            "format": "apiwatch-keys/1",
            # An environment key is current only while the variable is set: without it, the
            # current key is the one the file named before.
            "current": self.current if self.current in saved else self.saved_current,
            "data_keys": {str(k): _b64(v) for k, v in saved.items()},
            "index_key": _b64(self.index_key),
            "signing_key": _b64(raw_signing),
            "public_key": _b64(self.public_key_bytes()),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        # A name of its own per writer: concurrent writers must not share one temporary file.
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(doc, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        return tmp

    # -- data keys ---------------------------------------------------------------------------

    def use_data_key(self, key: bytes, *, memory_only: bool = False) -> int:
        """Make ``key`` current (adding it if new); returns its id, `data_key_id` of the key
        unless an older key file already holds it under a counter id. A ``memory_only`` key is
        never written to the key file."""
        if len(key) != 32:
            raise ConfigError("data key: expected 32 bytes (base64 of 32 random bytes)")
        for key_id, known in self.data_keys.items():
            if hmac.compare_digest(known, key):
                self.current = key_id
                return key_id
        key_id = data_key_id(key)
        if key_id in self.data_keys:  # 1 in 2**31 for two keys; refuse rather than confuse
            raise ConfigError(f"data key: its id {key_id} is already used by another key")
        self.data_keys[key_id] = key
        if memory_only:
            self.memory_only.add(key_id)
        self.current = key_id
        if not memory_only:
            self.saved_current = key_id
        return key_id

    def new_data_key(self) -> int:
        """Add a fresh data key, make it current and save; returns its id."""
        key = os.urandom(32)
        while data_key_id(key) in self.data_keys:
            key = os.urandom(32)
        key_id = self.use_data_key(key)
        self.save()
        return key_id

    def encrypt(self, plaintext: bytes, associated: bytes) -> tuple[int, bytes]:
        """``(key id, nonce || ciphertext)`` under the current key, bound to ``associated``."""
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(self.data_keys[self.current]).encrypt(nonce, plaintext, associated)
        return self.current, nonce + sealed

    def cipher(self) -> tuple[int, AESGCM]:
        """The current key id and a reusable AES-GCM object (for encrypting a whole batch)."""
        return self.current, AESGCM(self.data_keys[self.current])

    def decrypt(self, key_id: int, blob: bytes, associated: bytes) -> bytes:
        key = self.data_keys.get(key_id)
        if key is None:
            raise DecryptError(
                f"data key {key_id} is not in the key file (nor in {_ENV_DATA_KEY}, if set)"
            )
        try:
            return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], associated)
        except InvalidTag:
            raise DecryptError("payload fails authentication (altered, or another key)") from None

    # -- blind index and signatures --------------------------------------------------------------

    def blind_index(self, value: str) -> bytes:
        """A keyed hash of an account name: equality search without storing the name in clear."""
        found = self._index_cache.get(value)
        if found is None:
            # Account names repeat across a batch; the HMAC is a noticeable share of ingest.
            if len(self._index_cache) >= _INDEX_CACHE:
                self._index_cache.clear()
            found = hmac.digest(self.index_key, value.encode(), "sha256")[:16]
            self._index_cache[value] = found
        return found

    def sign(self, message: bytes) -> bytes:
        return self.signing_key.sign(message)

    def public_key_bytes(self) -> bytes:
        return self.signing_key.public_key().public_bytes_raw()

    def signature_ok(self, message: bytes, signature: bytes) -> bool:
        public = Ed25519PublicKey.from_public_bytes(self.public_key_bytes())
        try:
            public.verify(signature, message)
        except Exception:  # noqa: BLE001 - cryptography raises InvalidSignature
            return False
        return True
