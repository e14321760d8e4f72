"""Who ran it: the login name of the user running this process, recorded with each run."""

from __future__ import annotations

import getpass


def current_user() -> str | None:
    """The user's login name, or None where the system has no name for this uid (containers)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
