"""Settings: frozen dataclasses loaded from ``configs/default.toml`` plus an override file.

Settings are data. :func:`load_settings` reads the defaults, overlays the user's file key by
key, rejects unknown keys by name, and returns :class:`Settings`, which round-trips to a
JSON-able dict (``to_dict``) that the manifest records with its SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any

from data_contracts import ConfigError, ContractSettings, SstError
from data_contracts.communities import load_crosswalk
from hashing.audit.settings import AuditSettings
from hashing.settings import EncodingSettings
from linkage.settings import LinkageSettings

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.toml"


@dataclass(frozen=True)
class IngestSettings:
    """``[ingest]``: see ``configs/default.toml`` for each setting."""

    quarantine_limit: float = 0.05
    earliest_dob: date = date(1900, 1, 1)
    placeholder_ssns: tuple[str, ...] = ("000000000", "123456789", "999999999")

    def contract(self) -> ContractSettings:
        """The row rules the data contracts take."""
        return ContractSettings(earliest_dob=self.earliest_dob,
                                placeholder_ssns=self.placeholder_ssns)


@dataclass(frozen=True)
class CommunitySettings:
    """``[communities]``: see ``configs/default.toml``."""

    crosswalk: str = "configs/communities.csv"

    @property
    def crosswalk_path(self) -> Path:
        """The crosswalk file; a relative path is taken from the project folder."""
        p = Path(self.crosswalk)
        return p if p.is_absolute() else DEFAULT_CONFIG.parent.parent / p


@dataclass(frozen=True)
class RunSettings:
    """``[run]``: see ``configs/default.toml``."""

    lock_wait_seconds: float = 0
    keep_staging: bool = False


@dataclass(frozen=True)
class PublishSettings:
    """``[publish]``: see ``configs/default.toml``."""

    suppression_threshold: int = 11


SIGNING_KEY_ENV = "SST_SIGNING_KEY_FILE"


@dataclass(frozen=True)
class HandoffSettings:
    """``[handoff]``: see ``configs/default.toml``."""

    recipients: dict[str, str] = field(default_factory=dict)
    chunk_rows: int = 50_000
    signing_key: str = ""

    def signing_key_path(self) -> Path | None:
        """The pipeline's signing key: ``signing_key``, else ``SST_SIGNING_KEY_FILE``;
        None when neither is set (the roster is then written unsigned, format version 1)."""
        value = self.signing_key or os.environ.get(SIGNING_KEY_ENV, "")
        if not value:
            return None
        root = DEFAULT_CONFIG.parent.parent
        return Path(value) if Path(value).is_absolute() else root / value

    def recipient_paths(self) -> dict[str, Path]:
        """Each recipient's public key file; a relative path is taken from the project."""
        root = DEFAULT_CONFIG.parent.parent
        return {name: (Path(p) if Path(p).is_absolute() else root / p)
                for name, p in sorted(self.recipients.items())}


@dataclass(frozen=True)
class ScheduleSettings:
    """``[schedule]``: see ``configs/default.toml``."""

    cron: str = "0 2 * * *"
    timezone: str = "America/New_York"
    extracts: str = ""
    out: str = ""


@dataclass(frozen=True)
class DeliverySettings:
    """``[delivery]``: see ``configs/default.toml``."""

    settle_seconds: float = 5.0
    max_drop: float = 0.2
    history_nights: int = 7
    require_final_line_end: bool = True


@dataclass(frozen=True)
class Settings:
    """All settings of a run."""

    ingest: IngestSettings = field(default_factory=IngestSettings)
    encoding: EncodingSettings = field(default_factory=EncodingSettings)
    communities: CommunitySettings = field(default_factory=CommunitySettings)
    linkage: LinkageSettings = field(default_factory=LinkageSettings)
    run: RunSettings = field(default_factory=RunSettings)
    publish: PublishSettings = field(default_factory=PublishSettings)
    handoff: HandoffSettings = field(default_factory=HandoffSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    audit: AuditSettings = field(default_factory=AuditSettings)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (dates as ISO strings, tuples as lists)."""
        return json.loads(json.dumps(asdict(self), default=str))

    def sha256(self) -> str:
        """Fingerprint of the settings, for the manifest."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with Path(path).open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("configuration file not found", where=str(path),
                          hint="pass an existing TOML file with --config") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML ({exc})", where=str(path),
                          hint="fix the syntax; configs/default.toml shows the format") from None


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting {where}.{unknown[0]}", where=where,
                          hint="see configs/default.toml for the settings that exist")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        key = f"{where}.{name}"
        try:
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise TypeError
            elif isinstance(default, date):
                value = value if isinstance(value, date) else date.fromisoformat(str(value))
            elif isinstance(default, tuple):
                if not isinstance(value, list):
                    raise TypeError
                value = tuple(str(v) for v in value)
            elif isinstance(default, dict):
                if not isinstance(value, dict):
                    raise TypeError
                value = {**default, **value}
            elif isinstance(default, str):
                if not isinstance(value, str):
                    raise TypeError
            elif isinstance(default, (int, float)):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise TypeError
                value = type(default)(value) if isinstance(default, float) else value
        except (TypeError, ValueError):
            raise ConfigError(f"setting {key} has the wrong type "
                              f"(expected {type(default).__name__})", where=key,
                              hint="see configs/default.toml") from None
        kwargs[name] = value
    return cls(**kwargs)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _check_recipients(handoff: HandoffSettings) -> None:
    """Every recipient's name and public key, and the signing key, before any data is read
    (a bad key found at the handoff stage would fail the night after everything else had
    run)."""
    from pipeline.handoff import check_recipient_name, load_signer, public_key_fingerprint

    signing = handoff.signing_key_path()
    if signing is not None and handoff.recipients:
        try:
            load_signer(signing, "", "")
        except SstError as exc:
            raise ConfigError(f"signing key: {exc.one_line()}", where="handoff.signing_key",
                              hint="make one with `sst-link keygen --signing --out FILE`"
                              ) from None

    for name, value in handoff.recipients.items():
        where = f"handoff.recipients.{name}"
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where} must be the path of a public key", where=where,
                              hint='make one with `sst-link recipient-keygen`; write '
                                   f'{name} = "path/to/{name}.public.pem"')
        try:
            check_recipient_name(name)
            public_key_fingerprint(handoff.recipient_paths()[name])
        except SstError as exc:
            raise ConfigError(f"recipient {name!r}: {exc.one_line()}", where=where,
                              hint="fix the path, or run `sst-link recipient-keygen --name "
                                   "NAME --out DIR` and list its .public.pem") from None


def load_settings(path: Path | None = None) -> Settings:
    """Defaults from ``configs/default.toml``, overlaid with ``path`` if given.

    Raises:
        ConfigError: unreadable file, bad TOML, unknown table or key, wrong type or a value
            out of range.
    """
    data = _read_toml(DEFAULT_CONFIG)
    if path is not None:
        data = _merge(data, _read_toml(Path(path)))
    tables = {f.name: f.type for f in fields(Settings)}
    unknown = sorted(set(data) - set(tables))
    if unknown:
        raise ConfigError(f"unknown table [{unknown[0]}]", where=str(path or DEFAULT_CONFIG),
                          hint="see configs/default.toml for the tables that exist")
    not_tables = sorted(k for k, v in data.items() if not isinstance(v, dict))
    if not_tables:
        raise ConfigError(f"{not_tables[0]} must be a table ([{not_tables[0]}]), not a value",
                          where=str(path or DEFAULT_CONFIG),
                          hint="see configs/default.toml for the tables that exist")
    settings = Settings(**{f.name: _build(type(getattr(Settings(), f.name)),
                                          data.get(f.name, {}), f.name)
                           for f in fields(Settings)})
    if not 0 <= settings.ingest.quarantine_limit <= 1:
        raise ConfigError("ingest.quarantine_limit must be a share between 0 and 1",
                          where="ingest.quarantine_limit", hint="for example 0.05 for 5 %")
    problems = settings.encoding.validate()
    if problems:
        raise ConfigError(f"encoding.{problems[0]}", where="encoding",
                          hint="see configs/default.toml")
    problems = settings.audit.validate()
    if problems:
        raise ConfigError(f"audit.{problems[0]}", where="audit", hint="see configs/default.toml")
    problems = settings.linkage.validate()
    if problems:
        raise ConfigError(f"linkage.{problems[0]}", where="linkage",
                          hint="see configs/default.toml")
    if settings.publish.suppression_threshold < 1:
        raise ConfigError("publish.suppression_threshold must be at least 1",
                          where="publish.suppression_threshold", hint="the default is 11")
    if settings.handoff.chunk_rows < 1:
        raise ConfigError("handoff.chunk_rows must be at least 1", where="handoff.chunk_rows",
                          hint="the default is 50000")
    if not isinstance(settings.handoff.chunk_rows, int):
        raise ConfigError("handoff.chunk_rows must be a whole number",
                          where="handoff.chunk_rows", hint="the default is 50000")
    d = settings.delivery
    if not 0 <= d.max_drop <= 1:
        raise ConfigError("delivery.max_drop must be a share between 0 and 1",
                          where="delivery.max_drop", hint="for example 0.2 for a fifth")
    if d.settle_seconds < 0:
        raise ConfigError("delivery.settle_seconds must not be negative",
                          where="delivery.settle_seconds", hint="the default is 5")
    if not isinstance(d.history_nights, int) or d.history_nights < 1:
        raise ConfigError("delivery.history_nights must be a whole number of at least 1",
                          where="delivery.history_nights", hint="the default is 7")
    _check_recipients(settings.handoff)
    load_crosswalk(settings.communities.crosswalk_path)     # fail before reading any data
    return settings
