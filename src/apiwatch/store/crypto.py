"""Keys for the store: AES-GCM data keys (with ids, for rotation), a blind-index key, and the
Ed25519 key that signs checkpoints.

Two files, both JSON (base64 values), created on first use with mode 0600 (one that group or
others may read is refused: `apiwatch.store._filemode.check_private_file`):

* the **key file** holds the data keys, the index key and the signing *public* key: every
  command that reads the store needs it;
* the **signing key file** holds the Ed25519 private key: only what writes the chains
  (the collector, ``keys create``, ``expire`` ...) needs it. `Keyring.load_or_create` is given
  its path; `apiwatch.store.open_store` puts it outside the data directory by default, so that
  whoever can edit the database and read the key file beside it still cannot sign a rewritten
  history. Without it a keyring verifies (with the public key, which it then takes from the key
  file) but refuses to sign (`ConfigError` naming the file).

A key file written before the split holds the private key itself (``signing_inline``): it keeps
working, and `Keyring.move_signing_key` moves the key out. ``APIWATCH_DATA_KEY`` (base64 of 32
bytes, as ``apiwatch keygen`` prints) overrides the current data key, so a deployment can keep
that key in a secret manager instead of on disk: it is held in memory only, never written to the
key file. A data key's id is a fingerprint of the key itself (key files written before that keep
the counter ids stored in them), so one id never names two different keys.
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
    #: None when the signing key file is not available: the keyring verifies but cannot sign.
    signing_key: Ed25519PrivateKey | None
    path: Path | None = None
    created: bool = False
    #: Where the signing key lives when it is kept apart (None: inside the key file).
    signing_path: Path | None = None
    #: The public key as the key file records it (trusted only when there is no signing key).
    stored_public: bytes = b""
    #: Whether the signing key file was made by this keyring (not found made by another process).
    created_signing: bool = False
    #: Ids of data keys given through the environment: kept in memory, never saved.
    memory_only: set[int] = field(default_factory=set)
    saved_current: int = 0  # the current key as the key file names it
    _index_cache: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    # -- persistence -----------------------------------------------------------------------

    @classmethod
    def load_or_create(cls, path: Path, signing_path: Path | None = None) -> Keyring:
        """Read the key file, or create it (0600) when it does not exist yet.

        With ``signing_path``, a new keyring keeps its signing key in that file instead of the
        key file (and an existing key file without a signing key reads it from there).
        """
        exists = path.exists()
        keyring = cls.load(path, signing_path) if exists else cls._create(path, signing_path)
        override = os.environ.get(_ENV_DATA_KEY)
        if override:
            keyring.use_data_key(_unb64(override, _ENV_DATA_KEY), memory_only=True)
        return keyring

    @property
    def signing_inline(self) -> bool:
        """Whether the private signing key sits in the key file itself (the old layout)."""
        return self.signing_key is not None and self.signing_path is None

    @classmethod
    def load(cls, path: Path, signing_path: Path | None = None) -> Keyring:
        """Read the key file (and the signing key file, when given); `ConfigError` when one is
        damaged or other users may read it."""
        check_private_file(path, "key file")
        try:
            doc = json.loads(path.read_text())
            data_keys = {int(k): _unb64(v, "data key") for k, v in doc["data_keys"].items()}
            inline = doc.get("signing_key")
            signing = _private_key(inline) if inline else None
            public = _unb64(doc["public_key"], "public key") if "public_key" in doc else b""
            keyring = cls(
                data_keys=data_keys,
                current=int(doc["current"]),
                index_key=_unb64(doc["index_key"], "index key"),
                signing_key=signing,
                path=path,
                stored_public=public,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"key file {path}: unreadable ({exc})") from None
        if keyring.current not in keyring.data_keys:
            raise ConfigError(f"key file {path}: current data key {keyring.current} is missing")
        keyring.saved_current = keyring.current
        if signing is None:
            keyring._load_signing_key(signing_path)
        elif not public:
            keyring.stored_public = keyring.public_key_bytes()
        return keyring

    def _load_signing_key(self, signing_path: Path | None) -> None:
        """Read the private key kept apart; it must be the one the key file names."""
        self.signing_path = signing_path
        if not self.stored_public:
            raise ConfigError(f"key file {self.path}: holds neither a signing nor a public key")
        if signing_path is None or not signing_path.exists():
            return
        check_private_file(signing_path, "signing key file")
        try:
            doc = json.loads(signing_path.read_text())
            self.signing_key = _private_key(doc["signing_key"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"signing key file {signing_path}: unreadable ({exc})") from None
        if self.public_key_bytes() != self.stored_public:
            raise ConfigError(
                f"signing key file {signing_path} does not belong to the key file {self.path}"
            )

    @classmethod
    def _create(cls, path: Path, signing_path: Path | None = None) -> Keyring:
        first = os.urandom(32)
        generated = signing = Ed25519PrivateKey.generate()
        if signing_path is not None:
            signing = _create_signing_file(signing_path, generated)
        keyring = cls(
            data_keys={data_key_id(first): first},
            current=data_key_id(first),
            index_key=os.urandom(32),
            signing_key=signing,
            path=path,
            created=True,
            saved_current=data_key_id(first),
            signing_path=signing_path,
            stored_public=signing.public_key().public_bytes_raw(),
            created_signing=signing_path is not None and signing is generated,
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
            return cls.load(path, signing_path)
        except OSError:  # a file system without hard links
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return keyring

    def move_signing_key(self, signing_path: Path) -> None:
        """Move the private signing key out of the key file into ``signing_path`` (0600): the
        signing file is written first, the key file rewritten without the key after."""
        if self.signing_key is None or self.path is None:
            raise ConfigError("no signing key to move: the key file does not hold one")
        if not self.signing_inline:
            raise ConfigError(f"the signing key is already kept apart, in {self.signing_path}")
        kept = _create_signing_file(signing_path, self.signing_key)
        if kept.public_key().public_bytes_raw() != self.public_key_bytes():
            raise ConfigError(f"signing key file {signing_path} exists and holds another key")
        self.signing_path = signing_path
        self.save()

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
        saved = {k: v for k, v in sorted(self.data_keys.items()) if k not in self.memory_only}
        doc: dict[str, object] = {
            "format": "apiwatch-keys/1" if self.signing_inline else "apiwatch-keys/2",
            # An environment key is current only while the variable is set: without it, the
            # current key is the one the file named before.
            "current": self.current if self.current in saved else self.saved_current,
            "data_keys": {str(k): _b64(v) for k, v in saved.items()},
            "index_key": _b64(self.index_key),
            "public_key": _b64(self.public_key_bytes()),
        }
        if self.signing_inline and self.signing_key is not None:
            doc["signing_key"] = _b64(self.signing_key.private_bytes_raw())
        return _write_owner_only(path, doc)

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
        if self.signing_key is None:
            raise ConfigError(
                f"the signing key file {self.signing_path or '(none given)'} is missing: only "
                "verifying is possible without it (set signing_key_file / "
                "APIWATCH_SIGNING_KEY_FILE to where it is)"
            )
        return self.signing_key.sign(message)

    @property
    def can_sign(self) -> bool:
        return self.signing_key is not None

    def public_key_bytes(self) -> bytes:
        """The key signatures are checked with: the signing key's own when it is available (the
        key file, which sits with the store, is trusted for it only when it is not)."""
        if self.signing_key is not None:
            return self.signing_key.public_key().public_bytes_raw()
        return self.stored_public

    def signature_ok(self, message: bytes, signature: bytes) -> bool:
        public = Ed25519PublicKey.from_public_bytes(self.public_key_bytes())
        try:
            public.verify(signature, message)
        except Exception:  # noqa: BLE001 - cryptography raises InvalidSignature
            return False
        return True


def _private_key(text: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_unb64(text, "signing key"))


def _write_owner_only(path: Path, doc: dict[str, object]) -> Path:
    """``doc`` as JSON in a new owner-only file beside ``path`` (fsync'd); its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own per writer: concurrent writers must not share one temporary file.
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(doc, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    return tmp


def _create_signing_file(path: Path, key: Ed25519PrivateKey) -> Ed25519PrivateKey:
    """Write ``key`` to a new signing key file (its directory owner-only); when the file exists
    already (another process was first) the key it holds, which the caller then uses."""
    doc: dict[str, object] = {
        "format": "apiwatch-signing-key/1",
        "signing_key": _b64(key.private_bytes_raw()),
        "public_key": _b64(key.public_key().public_bytes_raw()),
    }
    try:
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700, parents=True)
        tmp = _write_owner_only(path, doc)
    except OSError as exc:
        problem = exc.strerror or exc
        raise ConfigError(f"signing key file {path}: cannot create ({problem})") from None
    try:
        os.link(tmp, path)
    except FileExistsError:
        try:
            return _private_key(json.loads(path.read_text())["signing_key"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"signing key file {path}: unreadable ({exc})") from None
    except OSError:
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return key
