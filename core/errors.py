"""Errors an operator can act on.

Anything derived from :class:`UserError` is printed by the CLI as one line
(``alpha: error: …``) with a non-zero exit status and no traceback: it is a
mistake in input or configuration, not a bug.
"""


class UserError(Exception):
    """Bad input, bad configuration, or a refused operation; the message says which."""

    exit_code = 1


class ConfigError(UserError):
    """A missing or malformed setting. The message names the environment variable."""

    exit_code = 78  # EX_CONFIG from sysexits.h: supervisors can tell it from a crash
