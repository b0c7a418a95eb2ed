"""The linkage secret: a 256-bit key the three agencies share and the linkage side never holds.

Key file format: one line, ``sst-linkage-key-v1:`` followed by 64 hex digits, mode 0600.
The key is identified by its *key id*, a fingerprint that reveals nothing of it
(``k1-`` + the first 16 hex digits of SHA-256 over a domain tag and the key). Every use
gets its own subkey, derived with HKDF-SHA256 and a per-purpose ``info`` string, so no two
purposes share a key. ``repr``/``str`` of a key show the key id only; errors name the file,
never its content.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import stat
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from data_contracts.errors import KeyFileError

KEY_ENV = "SST_LINKAGE_KEY_FILE"
_PREFIX = "sst-linkage-key-v1:"
_FORMAT = re.compile(r"sst-linkage-key-v1:([0-9a-f]{64})")


class Purpose(StrEnum):
    """What a derived subkey is for (the HKDF ``info`` is ``sst-linkage/v1/<value>``)."""

    FIELD = "field"
    """Bloom-filter positions of one field's tokens (suffixed with the field name)."""
    BLOCKING = "blocking"
    """Keyed blocking tokens."""
    TIE = "tie"
    """Pseudonyms of family ties (DHS case, youth, offender)."""
    RECORD = "record"
    """Per-record randomness of the hardening (bit flips), and record pseudonyms."""
    PERMUTATION = "permutation"
    """The secret bit permutation used by balancing."""


@dataclass(frozen=True)
class LinkageKey:
    """A loaded linkage key. Build it with :meth:`load` or :meth:`generate`.

    Example:
        >>> key = LinkageKey.from_bytes(bytes(32))
        >>> key.key_id
        'k1-...'  # doctest: +SKIP
        >>> len(key.derive(Purpose.BLOCKING))
        32
    """

    _secret: bytes = field(repr=False)
    key_id: str = ""

    @classmethod
    def from_bytes(cls, secret: bytes) -> LinkageKey:
        """Wrap 32 secret bytes (tests and key generation)."""
        if len(secret) != 32:
            raise KeyFileError("a linkage key is 256 bits (32 bytes)")
        kid = "k1-" + hashlib.sha256(b"sst-linkage key id v1\x00" + secret).hexdigest()[:16]
        return cls(secret, kid)

    @classmethod
    def generate(cls, path: Path) -> LinkageKey:
        """Create a new key file (mode 0600); refuses to overwrite an existing file.

        Raises:
            KeyFileError: the file exists or cannot be created.
        """
        path = Path(path)
        secret = secrets.token_bytes(32)
        exists = KeyFileError("key file already exists; refusing to overwrite it",
                              where=str(path), hint="choose a new path, or delete the old key "
                              "deliberately after a key rotation")
        if path.exists():
            raise exists
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(_PREFIX + secret.hex() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp, path)          # atomic, and fails if the path appeared meanwhile
        except FileExistsError:
            raise exists from None
        except OSError as exc:
            raise KeyFileError(f"cannot create the key file ({exc.strerror})", where=str(path),
                               hint="check the folder exists and is writable") from None
        finally:
            tmp.unlink(missing_ok=True)
        return cls.from_bytes(secret)

    @classmethod
    def load(cls, path: Path | str | None = None) -> LinkageKey:
        """Read the key file given, else the one named by ``SST_LINKAGE_KEY_FILE``.

        Raises:
            KeyFileError: no path, missing file, group/world-accessible file, or content
                that is not a v1 key. The message never contains the file's content.
        """
        if path is None or str(path) == "":
            path = os.environ.get(KEY_ENV, "")
            if not path:
                raise KeyFileError("no linkage key file given",
                                   hint=f"set encoding.key_file in the config or {KEY_ENV}")
        path = Path(path)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise KeyFileError("linkage key file is missing", where=str(path),
                               hint="create one with `sst-link keygen --out PATH`") from None
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise KeyFileError(
                f"linkage key file is accessible to others (mode {stat.S_IMODE(st.st_mode):o})",
                where=str(path), hint=f"run `chmod 600 {path}`")
        try:
            text = path.read_text(encoding="ascii").strip()
        except PermissionError:
            raise KeyFileError("linkage key file cannot be read by this user", where=str(path),
                               hint="run as the key file's owner") from None
        except (OSError, UnicodeDecodeError):
            text = ""
        match = _FORMAT.fullmatch(text.lower())
        if not match:
            raise KeyFileError("not a linkage key file (expected sst-linkage-key-v1 and 64 "
                               "hex digits)", where=str(path),
                               hint="use the file `sst-link keygen` wrote")
        return cls.from_bytes(bytes.fromhex(match.group(1)))

    def derive(self, purpose: Purpose, detail: str = "", length: int = 32) -> bytes:
        """The subkey for one purpose (and detail, e.g. a field name), via HKDF-SHA256."""
        info = f"sst-linkage/v1/{purpose.value}/{detail}".encode()
        return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info
                    ).derive(self._secret)

    def __repr__(self) -> str:
        return f"LinkageKey(key_id={self.key_id!r})"

    __str__ = __repr__
