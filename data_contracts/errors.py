"""One error tree for the whole application.

Every error carries ``where`` (file, row or field) and ``hint`` (what to do), and its
``str()`` is one line that never contains a record value. The CLI prints it and exits 2;
any other exception is a bug.
"""

from __future__ import annotations


class SstError(Exception):
    """Base of every expected sst-linkage failure.

    Args:
        message: what went wrong, without any record value.
        where: the file, row or field it concerns.
        hint: what the user should do about it.
    """

    def __init__(self, message: str, *, where: str = "", hint: str = "") -> None:
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The error as one line: ``where: message (hint)``."""
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f" -- {self.hint}"
        return " ".join(text.split())


class ConfigError(SstError):
    """A configuration file or setting is invalid."""


class ContractError(SstError):
    """An extract breaks its data contract as a whole (missing file, wrong columns, ...)."""


class QuarantineLimitError(ContractError):
    """An agency's quarantined share passed the configured limit."""


class RunFolderError(SstError):
    """The run folder cannot be created or is locked by another run."""


class KeyFileError(SstError):
    """The linkage key file is missing, readable by others, malformed or already exists."""


class EncodedFormatError(SstError):
    """An encoded extract is not in the declared format (or its key or settings differ)."""
