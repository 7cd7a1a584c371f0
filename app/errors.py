"""The project's errors, importable without Keras: what a user can fix, said in one line by the commands.

Library code raises these (or `ValueError`); only the commands (`app/<command>.py`, `tuning/search.py`) turn
them into one `error:` line and exit status 2 (`app.cli.shared.exits_cleanly_on_user_error`).
"""


class UserError(Exception):
    """A mistake the user can fix (a missing file, an unknown visitor): one line, no traceback."""


class ConfigError(ValueError):
    """An unknown config name or field, or a value out of its range."""
