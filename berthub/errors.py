"""Exceptions that berthub raises on purpose.

Every message says what was asked, what went wrong and what to do. The command line prints
`str(error)` as one line and exits non-zero; Python users catch these (or their builtin bases).
"""


class BerthubError(Exception):
    """Base class of every error berthub raises on purpose."""


class ConfigError(BerthubError, ValueError):
    """A configuration has invalid fields; the message lists every one of them."""


class InputError(BerthubError, ValueError):
    """Tensors or text given to a model or tokenizer are malformed."""


class WeightsError(BerthubError):
    """A checkpoint cannot be loaded into a model (missing, unexpected or mis-shaped tensors)."""


class NotFoundError(BerthubError, LookupError):
    """A model name, repo, revision or file does not exist."""


class AuthError(BerthubError, PermissionError):
    """The hub refused access: a token is missing or wrong."""


class NetworkError(BerthubError, ConnectionError):
    """The hub could not be reached."""


class CorruptDownloadError(BerthubError):
    """A downloaded file did not match its checksum; it was removed."""


class PluginError(BerthubError):
    """A plugin failed to load or clashes with another one."""
