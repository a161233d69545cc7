"""The project's error hierarchy: every failure a user can cause is a RagError with a message that says what to do."""

from __future__ import annotations


class RagError(Exception):
    """Base class for errors a user can act on (the CLI prints them without a traceback)."""


class ConfigError(RagError, ValueError):
    """A setting has a value outside the valid ones."""


class CorpusError(RagError):
    """The corpus folder is missing or holds no usable article."""


class ModelError(RagError):
    """The embedding model could not be materialized or loaded."""


class IndexNotFoundError(RagError):
    """No index exists where one was expected."""


class IndexWriteError(RagError):
    """The index folder cannot be written (permissions, full disk)."""


class IndexMismatchError(RagError):
    """The saved index was built with settings that differ from the current ones."""


class StoreError(RagError):
    """The vector store cannot be reached, refused the credentials, or lacks the build the index names."""


class QuestionError(RagError, ValueError):
    """The question is empty, whitespace only, too long or holds a NUL character."""


class UnsupportedQuestionError(QuestionError):
    """The question is not one the chat answers (not Arabic or English); the message is the bilingual notice."""


class BackendError(RagError):
    """An answer backend failed (network error, bad reply, missing model)."""


class GoldFileError(RagError, ValueError):
    """A gold Q&A file is malformed; the message names the line and the field."""
