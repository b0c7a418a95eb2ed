"""The encrypted handoff of the identified roster to named program staff.

The identified roster (names, dates of birth and addresses of the people in multi-system
families) leaves the pipeline only encrypted, one file per recipient, to that recipient's
X25519 public key with HPKE (RFC 9180) as implemented by ``cryptography``
(:class:`cryptography.hazmat.primitives.hpke.Suite`, Base mode, single shot).

Public surface::

    generate_recipient(name, out_dir, passphrase=None) -> RecipientKeys
    public_key_fingerprint(path) -> str
    RosterWriter(recipients, out_dir, *, columns, chunk_size=65536)  # streaming writer
    encrypt_csv(frame_chunks, recipients, out_dir, *, columns) -> {recipient: summary}
    encrypt_frame(frame, recipients, out_dir, chunk_rows=50_000) -> {recipient: summary}
    decrypt_file(in_path, private_key_path, out_path, passphrase=None) -> rows
    read_passphrase(file, *, use_env=True) -> bytes | None

Every expected failure raises :class:`HandoffError` (an :class:`~data_contracts.SstError`):
one line, never a record value nor any key material.

Recipient keys
--------------
``<name>.private.pem``: the X25519 private key, PKCS#8 PEM (``BEGIN PRIVATE KEY``, or
``BEGIN ENCRYPTED PRIVATE KEY`` when a passphrase was given), created with mode 0600.
``<name>.public.pem``: the public key, SubjectPublicKeyInfo PEM, mode 0644; it goes into
the config's ``[handoff.recipients]`` table (``name = "path/to/name.public.pem"``).

The *fingerprint* of a key is the first 16 hex digits (8 bytes) of SHA-256 over the raw
32-byte X25519 public key (the RFC 7748 encoding, i.e. the last 32 bytes of the DER
SubjectPublicKeyInfo), so it can be checked independently with
``openssl pkey -pubin -in NAME.public.pem -outform DER | tail -c 32 | sha256sum``.

File format ``SSTHPKE1``, format version 1
------------------------------------------
All integers are unsigned big-endian. One file per recipient:
``identified_roster.<recipient>.enc``.

Header (112 bytes in version 1)::

    offset  size  field
    0       8     magic, ASCII "SSTHPKE1"
    8       2     format version = 1
    10      2     HPKE KEM id  = 0x0020  DHKEM(X25519, HKDF-SHA256)
    12      2     HPKE KDF id  = 0x0001  HKDF-SHA256
    14      2     HPKE AEAD id = 0x0003  ChaCha20-Poly1305
    16      8     recipient key fingerprint (the 8 bytes whose hex is the fingerprint)
    24      4     chunk size C: plaintext bytes of every chunk but the last (1..2**24)
    28      2     Nenc = length of the encapsulated key (32)
    30      32    enc: the HPKE encapsulated key (the sender's ephemeral X25519 public key)
    62      2     Nw = length of the wrapped file key (48 = 32-byte key + 16-byte tag)
    64      48    the wrapped file key: HPKE Base-mode single-shot seal of a fresh random
                  256-bit file key to the recipient, with
                  info = b"sst-linkage identified-roster file key, format version " + the
                  2-byte format version, and no aad.

``Suite.encrypt`` returns ``enc || ct``; the header stores the two parts as the fields at
offsets 30 and 64, and ``Suite.decrypt`` is given them concatenated again.

Body: the STREAM construction (Hoang, Reyhanitabar, Rogaway and Vizár, 2015; as in age and
Tink's streaming AEAD). The plaintext is cut into chunks ``P_0 .. P_{n-1}`` (n >= 1);
every chunk but the last holds exactly C bytes, the last holds 1..C bytes (0 only when the
whole plaintext is empty, n = 1). Each chunk is stored as::

    4       L = length of the sealed chunk (16 <= L <= C + 16)
    L       ChaCha20-Poly1305(key = file key, nonce = N_i, plaintext = P_i,
                              associated data = SHA-256(the whole header))

where ``N_i`` is ``i`` as an 11-byte big-endian counter followed by one flag byte, 0x01 for
the last chunk and 0x00 otherwise. The file ends right after the last chunk. Hence
reordering or dropping chunks (counter), truncation (no chunk sealed with the last flag),
appending (data after the last-flagged chunk), and changing any byte of the header (the
associated data) or of a chunk (its tag) are all detected; the output file of
:func:`decrypt_file` appears only once the last chunk has been verified.

The plaintext is UTF-8 CSV (RFC 4180: comma, ``"`` quoting, CRLF line ends, one header
line), written from the roster frames in memory: no plaintext ever touches the disk on the
encrypting side.

Format version 2: signed by the pipeline
----------------------------------------
HPKE Base mode proves nothing about the sender: anyone holding a recipient's public key can
make a file that decrypts, or put an older night's file in place of tonight's. Version 2
adds the pipeline's Ed25519 signature (RFC 8032; a key pair made by ``sst-link keygen
--signing``, whose public half every recipient pins) and says which run it is. The header
is version 1's with version = 2 (and the HPKE ``info`` carrying 2), followed by::

    112     8     signer key fingerprint (first 8 bytes of SHA-256 over the raw 32-byte
                  Ed25519 public key)
    120     2     M = length of the metadata
    122     M     metadata: UTF-8 JSON object, sorted keys: ``run_id``, ``night``,
                  ``recipient``

The chunks follow as in version 1 (associated data SHA-256 of this longer header). After
the last chunk comes the trailer: 4 zero bytes (no chunk has length 0), a 2-byte length
(64) and the Ed25519 signature over ``b"sst-linkage identified roster v2\x00"`` + SHA-256
of the header + SHA-256 of every chunk record (length prefixes included). The file ends
there. :func:`decrypt_roster` checks the signature against the pinned public key before
the output appears, and returns the night and run id so that an older file is noticed;
a version 1 file still decrypts and is reported as unauthenticated, unless a pipeline key
is pinned, which refuses it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import secrets
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import pandas as pd
from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from data_contracts import SstError

__all__ = [
    "DEFAULT_CHUNK_SIZE", "FORMAT_VERSION", "MAGIC", "PASSPHRASE_ENV", "Decrypted",
    "HandoffError", "RecipientKeys", "RosterWriter", "Signer", "decrypt_file",
    "decrypt_roster", "encrypt_csv", "encrypt_frame", "generate_recipient",
    "generate_signing_key", "load_signer", "public_key_fingerprint", "read_passphrase",
    "signing_key_fingerprint",
]

MAGIC = b"SSTHPKE1"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
DEFAULT_CHUNK_SIZE = 64 * 1024
MAX_CHUNK_SIZE = 1 << 24
PASSPHRASE_ENV = "SST_RECIPIENT_PASSPHRASE"
ROSTER_FILE = "identified_roster.{recipient}.enc"

# RFC 9180 section 7 identifiers of the one suite format version 1 uses.
KEM_ID, KDF_ID, AEAD_ID = 0x0020, 0x0001, 0x0003
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


def _hpke_info(version: int) -> bytes:
    return b"sst-linkage identified-roster file key, format version " + version.to_bytes(2, "big")


_SIGNED = b"sst-linkage identified roster v2\x00"
_SIG_LEN = 64
_MAX_META = 4096
_ENC_LEN = 32
_FILE_KEY_LEN = 32
_TAG_LEN = 16
_WRAPPED_LEN = _FILE_KEY_LEN + _TAG_LEN
_FIXED_LEN = 30             # magic .. Nenc
_COUNTER_LIMIT = 1 << 88    # 11-byte chunk counter
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_LINE_END = "\r\n"


class HandoffError(SstError):
    """An encrypted roster or a recipient key cannot be made, read or trusted."""


@dataclass(frozen=True)
class RecipientKeys:
    """The key pair :func:`generate_recipient` wrote."""

    private_path: Path
    public_path: Path
    fingerprint: str
    """First 16 hex digits of SHA-256 over the raw 32-byte X25519 public key."""


# ----------------------------------------------------------------------------- keys


def check_recipient_name(name: str, what: str = "recipient name") -> str:
    """``name`` if it can name a recipient's files; else the one-line error."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise HandoffError(f"invalid {what} {name!r}",
                           hint="use 1-64 letters, digits, '_', '.' or '-', starting with a "
                                "letter or digit")
    return name


def _raw_fingerprint(public_key: x25519.X25519PublicKey) -> bytes:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:8]


def _fingerprint(public_key: x25519.X25519PublicKey) -> str:
    return _raw_fingerprint(public_key).hex()


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (O_EXCL: never overwrite)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)             # exact mode whatever the umask
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        if fd >= 0:
            os.close(fd)


def generate_recipient(name: str, out_dir: Path,
                       passphrase: bytes | None = None) -> RecipientKeys:
    """Create the X25519 key pair of one roster recipient.

    Writes ``OUT_DIR/<name>.private.pem`` (PKCS#8 PEM, mode 0600 from creation, encrypted
    with ``BestAvailableEncryption`` when a passphrase is given) and
    ``OUT_DIR/<name>.public.pem`` (SubjectPublicKeyInfo PEM, mode 0644). ``out_dir`` is
    created if missing.

    Raises:
        HandoffError: bad name, empty passphrase, either file already exists, or the files
            cannot be written.
    """
    check_recipient_name(name)
    if passphrase is not None and len(passphrase) == 0:
        raise HandoffError("the passphrase is empty", hint="give a non-empty passphrase, or "
                           "none for an unencrypted private key")
    out_dir = Path(out_dir)
    private_path = out_dir / f"{name}.private.pem"
    public_path = out_dir / f"{name}.public.pem"
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise HandoffError("key file already exists; refusing to overwrite it",
                               where=str(path), hint="choose another name or folder")
    key = x25519.X25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase
        else serialization.NoEncryption())
    private_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8, encryption)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    created: list[Path] = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for path, data, mode in ((private_path, private_pem, 0o600),
                                 (public_path, public_pem, 0o644)):
            _write_new(path, data, mode)
            created.append(path)
    except FileExistsError as exc:
        for path in created:
            path.unlink(missing_ok=True)
        raise HandoffError("key file already exists; refusing to overwrite it",
                           where=str(exc.filename or out_dir),
                           hint="choose another name or folder") from None
    except OSError as exc:
        for path in created:
            path.unlink(missing_ok=True)
        raise HandoffError(f"cannot write the key files ({exc.strerror})", where=str(out_dir),
                           hint="check the folder is writable") from None
    return RecipientKeys(private_path, public_path, _fingerprint(key.public_key()))


def _read_key_file(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise HandoffError(f"{what} file is missing", where=str(path)) from None
    except IsADirectoryError:
        raise HandoffError(f"{what} path is a folder, not a key file", where=str(path)) from None
    except OSError as exc:
        raise HandoffError(f"cannot read the {what} file ({exc.strerror})",
                           where=str(path)) from None


def _load_public_key(path: Path) -> x25519.X25519PublicKey:
    data = _read_key_file(path, "public key")
    if b"PRIVATE KEY" in data:
        raise HandoffError("this is a private key, not a public key", where=str(path),
                           hint="give the <name>.public.pem file; the private key stays with "
                                "its recipient")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise HandoffError("not a PEM public key", where=str(path),
                           hint="give the <name>.public.pem that `sst-link recipient-keygen` "
                                "wrote") from None
    return _x25519(key, x25519.X25519PublicKey, "public", path)


def _x25519(key: Any, kind: type, what: str, path: Path) -> Any:
    """``key`` if it is of the X25519 ``kind``; else the one-line error."""
    if not isinstance(key, kind):
        raise HandoffError(f"not an X25519 {what} key", where=str(path),
                           hint="make recipient keys with `sst-link recipient-keygen`")
    return key


def _load_private_key(path: Path, passphrase: bytes | None) -> x25519.X25519PrivateKey:
    """Load a recipient's private key. A passphrase given for an unencrypted key is ignored."""
    data = _read_key_file(path, "private key")
    if b"BEGIN PUBLIC KEY" in data:
        raise HandoffError("this is a public key; decrypting needs the private key",
                           where=str(path), hint="give the <name>.private.pem file")
    encrypted = b"BEGIN ENCRYPTED PRIVATE KEY" in data
    if encrypted and not passphrase:
        raise HandoffError("the private key is protected by a passphrase and none was given",
                           where=str(path),
                           hint=f"use --passphrase-file FILE or set {PASSPHRASE_ENV}")
    try:
        key = serialization.load_pem_private_key(data, passphrase if encrypted else None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        if encrypted:
            raise HandoffError("wrong passphrase for the private key", where=str(path),
                               hint="check the passphrase file or "
                                    f"{PASSPHRASE_ENV}") from None
        raise HandoffError("not a PEM private key", where=str(path),
                           hint="give the <name>.private.pem that `sst-link recipient-keygen` "
                                "wrote") from None
    return _x25519(key, x25519.X25519PrivateKey, "private", path)


def public_key_fingerprint(path: Path) -> str:
    """Fingerprint of a recipient public key file (16 hex digits; see the module docstring)."""
    return _fingerprint(_load_public_key(Path(path)))


@dataclass(frozen=True)
class Signer:
    """The pipeline's signing key and what a signed roster says of its run."""

    key: ed25519.Ed25519PrivateKey
    run_id: str
    night: str

    @property
    def fingerprint(self) -> bytes:
        return _ed_fingerprint(self.key.public_key())


def _ed_fingerprint(public_key: ed25519.Ed25519PublicKey) -> bytes:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:8]


def generate_signing_key(out: Path) -> tuple[Path, Path, str]:
    """Create the pipeline's Ed25519 signing key: ``OUT`` (PKCS#8 PEM, mode 0600 from
    creation) and ``OUT`` with ``.public.pem`` in place of its suffix (mode 0644), which
    every recipient pins. Returns both paths and the fingerprint (16 hex digits).

    Raises:
        HandoffError: either file exists, or they cannot be written.
    """
    out = Path(out)
    public = out.with_name(out.stem + ".public.pem")
    for path in (out, public):
        if path.exists() or path.is_symlink():
            raise HandoffError("key file already exists; refusing to overwrite it",
                               where=str(path), hint="choose another --out path")
    key = ed25519.Ed25519PrivateKey.generate()
    created: list[Path] = []
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        for path, data, mode in (
                (out, key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()), 0o600),
                (public, key.public_key().public_bytes(
                    serialization.Encoding.PEM,
                    serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)):
            _write_new(path, data, mode)
            created.append(path)
    except OSError as exc:
        for path in created:
            path.unlink(missing_ok=True)
        raise HandoffError(f"cannot write the signing key ({exc.strerror})",
                           where=str(out)) from None
    return out, public, _ed_fingerprint(key.public_key()).hex()


def load_signer(path: Path, run_id: str, night: str) -> Signer:
    """The pipeline's signing key from its PEM file, for one run.

    Raises:
        HandoffError: missing, unreadable, group- or world-readable, or not an Ed25519
            private key.
    """
    path = Path(path)
    data = _read_key_file(path, "signing key")
    if os.stat(path).st_mode & 0o077:
        raise HandoffError("the signing key file is readable by others", where=str(path),
                           hint=f"chmod 600 {path}")
    try:
        key = serialization.load_pem_private_key(data, None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise HandoffError("not an Ed25519 signing key", where=str(path),
                           hint="make one with `sst-link keygen --signing --out FILE`")
    return Signer(key, str(run_id), str(night))


def _load_sender_key(path: Path) -> ed25519.Ed25519PublicKey:
    data = _read_key_file(Path(path), "pipeline public key")
    if b"PRIVATE KEY" in data:
        raise HandoffError("this is a private key; pin the pipeline's public key",
                           where=str(path), hint="give the .public.pem beside the signing key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise HandoffError("not the pipeline's Ed25519 public key", where=str(path),
                           hint="give the .public.pem that `sst-link keygen --signing` wrote")
    return key


def signing_key_fingerprint(path: Path) -> str:
    """Fingerprint of a pipeline public (or signing) key file, 16 hex digits."""
    data = _read_key_file(Path(path), "key")
    if b"PRIVATE KEY" in data:
        return load_signer(Path(path), "", "").fingerprint.hex()
    return _ed_fingerprint(_load_sender_key(Path(path))).hex()


def read_passphrase(file: Path | None, *, use_env: bool = True) -> bytes | None:
    """The passphrase from ``file`` (its trailing line ends dropped), else from
    ``SST_RECIPIENT_PASSPHRASE`` when ``use_env``, else ``None``.

    Raises:
        HandoffError: the file is missing, unreadable or empty.
    """
    if file is not None:
        try:
            value = Path(file).read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise HandoffError(f"cannot read the passphrase file ({exc.strerror})",
                               where=str(file)) from None
        if not value:
            raise HandoffError("the passphrase file is empty", where=str(file))
        return value
    if use_env:
        env = os.environ.get(PASSPHRASE_ENV, "")
        if env:
            return env.encode("utf-8")
    return None


# ----------------------------------------------------------------------- encryption


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _check_chunk_size(chunk_size: int) -> int:
    if not isinstance(chunk_size, int) or not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise HandoffError(f"chunk size must be 1..{MAX_CHUNK_SIZE} bytes, not {chunk_size}")
    return chunk_size


def _header(fingerprint: bytes, chunk_size: int, enc: bytes, wrapped: bytes,
            version: int = FORMAT_VERSION, signed: bytes = b"") -> bytes:
    """The header; ``signed`` is version 2's signer fingerprint, metadata length and
    metadata."""
    return b"".join((
        MAGIC, version.to_bytes(2, "big"), KEM_ID.to_bytes(2, "big"),
        KDF_ID.to_bytes(2, "big"), AEAD_ID.to_bytes(2, "big"), fingerprint,
        chunk_size.to_bytes(4, "big"), len(enc).to_bytes(2, "big"), enc,
        len(wrapped).to_bytes(2, "big"), wrapped, signed))


def _meta_bytes(signer: Signer, recipient: str) -> bytes:
    meta = json.dumps({"night": signer.night, "recipient": recipient,
                       "run_id": signer.run_id}, sort_keys=True).encode("utf-8")
    if len(meta) > _MAX_META:
        raise HandoffError("run id or night too long for the roster header")
    return signer.fingerprint + len(meta).to_bytes(2, "big") + meta


class _Sealer:
    """One recipient's output: header, then STREAM chunks into ``<file>.tmp``."""

    def __init__(self, recipient: str, public_key: x25519.X25519PublicKey, out_dir: Path,
                 chunk_size: int, signer: Signer | None = None) -> None:
        self.recipient = recipient
        self.fingerprint = _fingerprint(public_key)
        self.path = out_dir / ROSTER_FILE.format(recipient=recipient)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.chunk_size = chunk_size
        self.signer = signer
        version = 2 if signer is not None else 1
        file_key = ChaCha20Poly1305.generate_key()
        sealed = _SUITE.encrypt(file_key, public_key, info=_hpke_info(version))
        enc, wrapped = sealed[:_ENC_LEN], sealed[_ENC_LEN:]
        if len(wrapped) != _WRAPPED_LEN:      # pragma: no cover - fixed by the suite
            raise HandoffError("unexpected HPKE output length")
        header = _header(_raw_fingerprint(public_key), chunk_size, enc, wrapped, version,
                         _meta_bytes(signer, recipient) if signer is not None else b"")
        self._aad = hashlib.sha256(header).digest()
        self._body = hashlib.sha256()
        self._aead = ChaCha20Poly1305(file_key)
        self._buffer = bytearray()
        self._counter = 0
        self._sha = hashlib.sha256()
        self.bytes = 0
        self.tmp.unlink(missing_ok=True)      # a stale one holds ciphertext only
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._fh: BinaryIO | None = os.fdopen(fd, "wb")
        self._out(header)

    def _out(self, data: bytes) -> None:
        assert self._fh is not None
        self._fh.write(data)
        self._sha.update(data)
        self.bytes += len(data)

    def _seal(self, plaintext: bytes, last: bool) -> None:
        if self._counter >= _COUNTER_LIMIT:   # pragma: no cover - 2**88 chunks
            raise HandoffError("roster too large for one encrypted file")
        sealed = self._aead.encrypt(_nonce(self._counter, last), plaintext, self._aad)
        record = len(sealed).to_bytes(4, "big") + sealed
        self._body.update(record)
        self._out(record)
        self._counter += 1

    def write(self, data: bytes) -> None:
        self._buffer += data
        size = self.chunk_size
        # Keep at least one byte back, so the last chunk is never empty (unless all is).
        while len(self._buffer) > size:
            self._seal(bytes(self._buffer[:size]), last=False)
            del self._buffer[:size]

    def finish(self) -> None:
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()
        if self.signer is not None:
            signature = self.signer.key.sign(_SIGNED + self._aad + self._body.digest())
            self._out(b"\x00\x00\x00\x00" + len(signature).to_bytes(2, "big") + signature)
        assert self._fh is not None
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self._buffer.clear()
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self.tmp.unlink(missing_ok=True)

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


class RosterWriter:
    """Stream roster frames as CSV into one encrypted file per recipient.

    Each frame is turned into CSV text in memory (the header line once, before the first
    rows), encoded to UTF-8 and fed to every recipient's encryptor; nothing in plain text
    is written to disk. Output goes to ``OUT_DIR/identified_roster.<recipient>.enc.tmp``
    and is renamed to ``identified_roster.<recipient>.enc`` by :meth:`close`; on an
    exception inside ``with`` (or :meth:`abort`) the temporary files are removed.

    Example::

        with RosterWriter({"alice": Path("alice.public.pem")}, run_dir,
                          columns=["first_name", "last_name"]) as writer:
            for frame in frames:
                writer.write_frame(frame)
        summary = writer.summary   # {recipient: {file, bytes, sha256, fingerprint, rows}}
    """

    def __init__(self, recipients: Mapping[str, Path], out_dir: Path, *,
                 columns: Sequence[str], chunk_size: int = DEFAULT_CHUNK_SIZE,
                 signer: Signer | None = None) -> None:
        if not recipients:
            raise HandoffError("no recipients for the identified roster",
                               hint="list them in the config's [handoff.recipients] table")
        self.columns = [str(c) for c in columns]
        if not self.columns:
            raise HandoffError("the roster needs at least one column")
        if len(set(self.columns)) != len(self.columns):
            raise HandoffError("the roster's columns are not unique")
        chunk_size = _check_chunk_size(chunk_size)
        keys = {check_recipient_name(name): _load_public_key(Path(path))
                for name, path in recipients.items()}
        out_dir = Path(out_dir)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HandoffError(f"cannot create the output folder ({exc.strerror})",
                               where=str(out_dir)) from None
        self.rows = 0
        self.summary: dict[str, dict[str, Any]] = {}
        self._header_done = False
        self._sealers: list[_Sealer] = []
        try:
            for name, key in keys.items():
                self._sealers.append(_Sealer(name, key, out_dir, chunk_size, signer))
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                raise HandoffError(f"cannot write the encrypted roster ({exc.strerror})",
                                   where=str(out_dir)) from None
            raise

    def _feed(self, text: str) -> None:
        data = text.encode("utf-8")
        try:
            for sealer in self._sealers:
                sealer.write(data)
        except OSError as exc:
            raise HandoffError(f"cannot write the encrypted roster ({exc.strerror})",
                               where=str(exc.filename or "")) from None

    def write_frame(self, frame: pd.DataFrame) -> None:
        """Append the rows of one frame (its columns beyond ``columns`` are ignored)."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise HandoffError("roster frame lacks column(s) " + ", ".join(missing))
        text = frame.loc[:, self.columns].to_csv(
            index=False, header=not self._header_done, lineterminator=_LINE_END)
        self._header_done = True
        self.rows += len(frame)
        self._feed(text)

    def close(self) -> dict[str, dict[str, Any]]:
        """Seal the last chunks, rename the files into place, and return the summary."""
        if not self._header_done:
            buf = io.StringIO()
            csv.writer(buf, lineterminator=_LINE_END).writerow(self.columns)
            self._header_done = True
            self._feed(buf.getvalue())
        try:
            for sealer in self._sealers:
                sealer.finish()
        except BaseException as exc:
            for sealer in self._sealers:
                sealer.abort()
                sealer.path.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise HandoffError(f"cannot write the encrypted roster ({exc.strerror})",
                                   where=str(exc.filename or "")) from None
            raise
        self.summary = {s.recipient: {"file": s.path.name, "bytes": s.bytes,
                                      "sha256": s.sha256, "fingerprint": s.fingerprint,
                                      "rows": self.rows,
                                      "format_version": 2 if s.signer else 1,
                                      "signer": s.signer.fingerprint.hex() if s.signer
                                      else None}
                        for s in self._sealers}
        self._sealers = []
        return self.summary

    def abort(self) -> None:
        """Drop every temporary file; nothing is renamed into place."""
        for sealer in self._sealers:
            sealer.abort()
        self._sealers = []

    def __enter__(self) -> RosterWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def encrypt_csv(frame_chunks: Iterable[pd.DataFrame], recipients: Mapping[str, Path],
                out_dir: Path, *, columns: Sequence[str],
                chunk_size: int = DEFAULT_CHUNK_SIZE,
                signer: Signer | None = None) -> dict[str, dict[str, Any]]:
    """Encrypt the CSV of ``frame_chunks`` (in order) to every recipient, streaming.

    Args:
        frame_chunks: the roster, one frame at a time.
        recipients: recipient name -> path of its public key PEM.
        out_dir: folder of the ``identified_roster.<recipient>.enc`` files.
        columns: the CSV's columns, in order.
        chunk_size: plaintext bytes per encrypted chunk.
        signer: the pipeline's signing key and run (format version 2); None writes an
            unsigned version 1 file.

    Returns:
        Per recipient: ``file`` (name), ``bytes``, ``sha256`` (of the encrypted file),
        ``fingerprint`` (of the recipient key) and ``rows``.

    Raises:
        HandoffError: no recipients, a bad recipient name or key, a frame without one of
            the columns, or an output that cannot be written (no file is left behind).
    """
    with RosterWriter(recipients, out_dir, columns=columns, chunk_size=chunk_size,
                      signer=signer) as writer:
        for frame in frame_chunks:
            writer.write_frame(frame)
    return writer.summary


def _slices(frame: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), chunk_rows):
        yield frame.iloc[start:start + chunk_rows]


def encrypt_frame(frame: pd.DataFrame, recipients: Mapping[str, Path], out_dir: Path,
                  chunk_rows: int = 50_000, *, columns: Sequence[str] | None = None,
                  chunk_size: int = DEFAULT_CHUNK_SIZE,
                  signer: Signer | None = None) -> dict[str, dict[str, Any]]:
    """:func:`encrypt_csv` of one frame, ``chunk_rows`` rows at a time (all its columns
    unless ``columns`` is given)."""
    if chunk_rows < 1:
        raise HandoffError(f"chunk_rows must be positive, not {chunk_rows}")
    cols = list(frame.columns) if columns is None else list(columns)
    return encrypt_csv(_slices(frame, chunk_rows), recipients, out_dir, columns=cols,
                       chunk_size=chunk_size, signer=signer)


# ----------------------------------------------------------------------- decryption


class _RowCounter:
    """Counts CSV records (RFC 4180 quoting) in a byte stream, chunk by chunk."""

    def __init__(self) -> None:
        self.records = 0
        self._quoted = False
        self._last = b""
        self.body = hashlib.sha256()     # of the chunk records, for the signature

    def feed(self, data: bytes) -> None:
        if not data:
            return
        parts = data.split(b'"')
        for i, part in enumerate(parts):
            if self._quoted == (i % 2 == 1):   # outside quotes
                self.records += part.count(b"\n")
        self._quoted ^= (len(parts) - 1) % 2 == 1
        self._last = data[-1:]

    @property
    def rows(self) -> int:
        records = self.records + (1 if self._last not in (b"", b"\n") else 0)
        return max(records - 1, 0)     # minus the header line


def _read(fh: BinaryIO, n: int) -> bytes:
    data = fh.read(n)
    while len(data) < n:
        more = fh.read(n - len(data))
        if not more:
            break
        data += more
    return data


@dataclass
class _Header:
    raw: bytes
    fingerprint: str
    chunk_size: int
    sealed_key: bytes      # enc || wrapped, as Suite.decrypt wants it
    version: int = 1
    signer: str | None = None           # version 2: the signer key's fingerprint
    meta: dict[str, str] | None = None  # version 2: run_id, night, recipient


def _read_header(fh: BinaryIO, where: str) -> _Header:
    def truncated() -> HandoffError:
        return HandoffError("encrypted roster is truncated (inside its header)", where=where)

    fixed = _read(fh, _FIXED_LEN)
    if fixed[:len(MAGIC)] != MAGIC:
        raise HandoffError("not an encrypted roster (no SSTHPKE1 header)", where=where,
                           hint="give the identified_roster.<recipient>.enc file")
    if len(fixed) < 10:
        raise truncated()
    version = int.from_bytes(fixed[8:10], "big")
    if version not in READABLE_VERSIONS:
        raise HandoffError(f"unsupported encrypted-roster format version {version}",
                           where=where, hint="this sst-link reads versions "
                                             + ", ".join(map(str, READABLE_VERSIONS)))
    if len(fixed) < _FIXED_LEN:
        raise truncated()
    suite = tuple(int.from_bytes(fixed[i:i + 2], "big") for i in (10, 12, 14))
    if suite != (KEM_ID, KDF_ID, AEAD_ID):
        raise HandoffError("unsupported HPKE suite (KEM, KDF, AEAD) = "
                           + ", ".join(f"0x{x:04x}" for x in suite), where=where,
                           hint="format version 1 uses 0x0020, 0x0001, 0x0003")
    fingerprint = fixed[16:24].hex()
    chunk_size = int.from_bytes(fixed[24:28], "big")
    n_enc = int.from_bytes(fixed[28:30], "big")
    if n_enc != _ENC_LEN:
        raise HandoffError("encrypted roster header is damaged (encapsulated key length)",
                           where=where)
    enc = _read(fh, n_enc)
    n_wrapped_raw = _read(fh, 2)
    if len(enc) < n_enc or len(n_wrapped_raw) < 2:
        raise truncated()
    n_wrapped = int.from_bytes(n_wrapped_raw, "big")
    if n_wrapped != _WRAPPED_LEN:
        raise HandoffError("encrypted roster header is damaged (wrapped key length)",
                           where=where)
    wrapped = _read(fh, n_wrapped)
    if len(wrapped) < n_wrapped:
        raise truncated()
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise HandoffError("encrypted roster header is damaged (chunk size)", where=where)
    raw = fixed + enc + n_wrapped_raw + wrapped
    if version == 1:
        return _Header(raw, fingerprint, chunk_size, enc + wrapped)
    signed = _read(fh, 10)
    if len(signed) < 10:
        raise truncated()
    n_meta = int.from_bytes(signed[8:10], "big")
    meta_raw = _read(fh, n_meta) if n_meta <= _MAX_META else b""
    if n_meta > _MAX_META or len(meta_raw) < n_meta:
        raise truncated() if n_meta <= _MAX_META else HandoffError(
            "encrypted roster header is damaged (metadata length)", where=where)
    try:
        meta = json.loads(meta_raw.decode("utf-8"))
        meta = {k: str(meta[k]) for k in ("run_id", "night", "recipient")}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise HandoffError("encrypted roster header is damaged (metadata)",
                           where=where) from None
    return _Header(raw + signed + meta_raw, fingerprint, chunk_size, enc + wrapped, 2,
                   signed[:8].hex(), meta)


def _unwrap(header: _Header, key: x25519.X25519PrivateKey) -> bytes | None:
    try:
        file_key = _SUITE.decrypt(header.sealed_key, key, info=_hpke_info(header.version))
    except (InvalidTag, ValueError):
        return None
    return file_key if len(file_key) == _FILE_KEY_LEN else None


def _open_file_key(header: _Header, key: x25519.X25519PrivateKey, where: str,
                   key_path: Path) -> bytes:
    mine = _fingerprint(key.public_key())
    file_key = _unwrap(header, key)
    if header.fingerprint != mine:
        if file_key is not None:     # the key opens it: only the fingerprint field changed
            raise HandoffError("encrypted roster header was tampered with (recipient "
                               "fingerprint altered)", where=where)
        raise HandoffError(f"wrong key: this roster is for the recipient key with "
                           f"fingerprint {header.fingerprint}, the key given has "
                           f"fingerprint {mine}", where=where,
                           hint=f"use the matching private key, not {key_path}")
    if file_key is None:
        raise HandoffError("cannot unwrap the file key with this private key (wrong key or "
                           "damaged header)", where=where,
                           hint=f"check that {key_path} is this file's recipient key")
    return file_key


_TRAILER = b"\x00\x00\x00\x00"


def _decrypt_body(fh: BinaryIO, header: _Header, file_key: bytes, sink: BinaryIO,
                  counter_rows: _RowCounter, where: str) -> bytes | None:
    """Decrypt the chunks into ``sink``; for version 2, return the signature trailer's
    signature after checking nothing follows it (the chunk records' hash is kept in
    ``counter_rows.body``)."""
    aead = ChaCha20Poly1305(file_key)
    aad = hashlib.sha256(header.raw).digest()
    max_len = header.chunk_size + _TAG_LEN
    signed = header.version >= 2
    index = 0
    prefix = _read(fh, 4)
    if not prefix or (signed and prefix == _TRAILER):
        raise HandoffError("encrypted roster is truncated (no chunks after the header)",
                           where=where)
    while True:
        n = index + 1            # 1-based for messages
        if len(prefix) < 4:
            raise HandoffError(f"encrypted roster is truncated (inside chunk {n})", where=where)
        length = int.from_bytes(prefix, "big")
        if not _TAG_LEN <= length <= max_len:
            raise HandoffError(f"encrypted roster was tampered with (chunk {n} has an invalid "
                               "length)", where=where)
        sealed = _read(fh, length)
        if len(sealed) < length:
            raise HandoffError(f"encrypted roster is truncated (inside chunk {n})", where=where)
        counter_rows.body.update(prefix + sealed)
        prefix = _read(fh, 4)
        last = (prefix == _TRAILER) if signed else not prefix
        if signed and not prefix:
            raise HandoffError(f"encrypted roster is truncated (no signature after chunk "
                               f"{n})", where=where)
        try:
            plain = aead.decrypt(_nonce(index, last), sealed, aad)
        except InvalidTag:
            # Tell a missing final chunk (or appended data) from plain tampering.
            try:
                aead.decrypt(_nonce(index, not last), sealed, aad)
            except InvalidTag:
                raise HandoffError(f"encrypted roster was tampered with (authentication "
                                   f"failed at chunk {n})", where=where) from None
            if last:
                raise HandoffError(f"encrypted roster is truncated (final chunk missing after "
                                   f"chunk {n})", where=where) from None
            raise HandoffError(f"encrypted roster was tampered with (data after the final "
                               f"chunk {n})", where=where) from None
        if not last and len(plain) != header.chunk_size:
            raise HandoffError(f"encrypted roster was tampered with (chunk {n} is short)",
                               where=where)
        if last and not plain and index > 0:
            raise HandoffError(f"encrypted roster was tampered with (empty final chunk {n})",
                               where=where)
        sink.write(plain)
        counter_rows.feed(plain)
        if last:
            if not signed:
                return None
            n_sig = int.from_bytes(_read(fh, 2), "big")
            signature = _read(fh, _SIG_LEN) if n_sig == _SIG_LEN else b""
            if len(signature) != _SIG_LEN:
                raise HandoffError("encrypted roster is truncated or damaged (signature)",
                                   where=where)
            if fh.read(1):
                raise HandoffError("encrypted roster was tampered with (data after the "
                                   "signature)", where=where)
            return signature
        index += 1


@dataclass(frozen=True)
class Decrypted:
    """What :func:`decrypt_roster` read: the rows, the format version, and for a signed
    (version 2) file the run it came from and the pipeline key that signed it."""

    rows: int
    version: int
    authenticated: bool
    run_id: str | None = None
    night: str | None = None
    recipient: str | None = None
    signer: str | None = None


def decrypt_file(in_path: Path, private_key_path: Path, out_path: Path,
                 passphrase: bytes | None = None,
                 sender_key_path: Path | None = None) -> int:
    """:func:`decrypt_roster`'s number of data rows."""
    return decrypt_roster(in_path, private_key_path, out_path, passphrase,
                          sender_key_path).rows


def decrypt_roster(in_path: Path, private_key_path: Path, out_path: Path,
                   passphrase: bytes | None = None,
                   sender_key_path: Path | None = None) -> Decrypted:
    """Decrypt an encrypted roster to ``out_path``; return its rows and, for a signed file,
    the run it came from.

    A version 2 file needs the pipeline's public key (``sender_key_path``, pinned by the
    recipient) and must carry that key's valid signature; a version 1 file is
    unauthenticated and is refused when a pipeline key is pinned.

    The plaintext goes to a temporary file (mode 0600) in ``out_path``'s folder, which is
    renamed to ``out_path`` only after the final chunk has been verified; on any failure
    it is removed and ``out_path`` does not exist. An existing ``out_path`` is never
    overwritten. Rows are the CSV records after the header line (RFC 4180 quoting, so a
    line break inside a quoted field does not count).

    Raises:
        HandoffError: not an encrypted roster (magic, version, suite), the wrong private key
            (fingerprint mismatch or HPKE failure), a missing or wrong passphrase, a
            truncated file, a tampered file (authentication failure at chunk N), or an
            output that exists or cannot be written. The message names files and
            fingerprints only.
    """
    in_path, out_path = Path(in_path), Path(out_path)
    where = str(in_path)
    if out_path.exists() or out_path.is_symlink():
        raise HandoffError("output file already exists; refusing to overwrite it",
                           where=str(out_path), hint="choose a new --out path")
    if not out_path.parent.is_dir():
        raise HandoffError("the output folder does not exist", where=str(out_path.parent))
    try:
        fh = open(in_path, "rb")        # closed in the finally below
    except FileNotFoundError:
        raise HandoffError("encrypted roster file is missing", where=where) from None
    except OSError as exc:
        raise HandoffError(f"cannot read the encrypted roster ({exc.strerror})",
                           where=where) from None
    tmp: Path | None = None
    try:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise HandoffError("not an encrypted roster (not a regular file)", where=where)
        header = _read_header(fh, where)
        sender = _load_sender_key(Path(sender_key_path)) if sender_key_path else None
        if header.version >= 2 and sender is None:
            raise HandoffError("this roster is signed by the pipeline; pin its public key "
                               "to check the signature", where=where,
                               hint="add --sender-key PIPELINE.public.pem (from your data "
                                    "steward)")
        if header.version < 2 and sender is not None:
            raise HandoffError("this roster is not signed (format version 1): its sender "
                               "cannot be proven", where=where,
                               hint="ask the data steward for tonight's signed file; to read "
                                    "an old unsigned file, leave out --sender-key")
        if sender is not None and header.signer != _ed_fingerprint(sender).hex():
            raise HandoffError(f"signed by another key (fingerprint {header.signer}, the "
                               f"pinned pipeline key is {_ed_fingerprint(sender).hex()})",
                               where=where, hint="do not use this file; tell the data "
                                                 "steward")
        key = _load_private_key(Path(private_key_path), passphrase)
        file_key = _open_file_key(header, key, where, Path(private_key_path))
        tmp = out_path.with_name(f".{out_path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            tmp = None
            raise HandoffError(f"cannot create the output file ({exc.strerror})",
                               where=str(out_path)) from None
        rows = _RowCounter()
        with os.fdopen(fd, "wb") as sink:
            signature = _decrypt_body(fh, header, file_key, sink, rows, where)
            sink.flush()
            os.fsync(sink.fileno())
        if sender is not None:
            message = _SIGNED + hashlib.sha256(header.raw).digest() + rows.body.digest()
            try:
                sender.verify(signature or b"", message)
            except InvalidSignature:
                raise HandoffError("the pipeline's signature does not verify: the file was "
                                   "altered or forged", where=where,
                                   hint="do not use this file; tell the data steward") from None
        try:
            os.link(tmp, out_path)      # atomic, and never replaces a file that appeared
        except FileExistsError:
            raise HandoffError("output file already exists; refusing to overwrite it",
                               where=str(out_path), hint="choose a new --out path") from None
        meta = header.meta or {}
        return Decrypted(rows.rows, header.version, sender is not None, meta.get("run_id"),
                         meta.get("night"), meta.get("recipient"), header.signer)
    except OSError as exc:
        raise HandoffError(f"cannot decrypt the roster ({exc.strerror})", where=where) from None
    finally:
        fh.close()
        if tmp is not None:
            tmp.unlink(missing_ok=True)

