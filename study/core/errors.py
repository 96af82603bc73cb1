"""The exception type for problems a user can fix (bad input, bad config, missing files): the
CLI prints a `StudyError` as one line and exits non-zero; anything else is a bug and keeps its
traceback.
"""


class StudyError(Exception):
    """A user-facing error: the message names the problem and, where possible, the fix."""


class ConfigError(StudyError, ValueError):
    """An invalid configuration value or key."""


class CorpusError(StudyError):
    """A corpus that is missing, empty, unreadable or fails verification."""


class DivergenceError(StudyError):
    """Training produced NaN or inf in the loss or the vectors."""
