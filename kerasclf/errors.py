"""The errors the CLIs print as one line: a mistake a user can fix (exit 2), and a lost process of a
data-parallel run (exit 1)."""


class UserError(Exception):
    """A bad config, file or value. The message names it and says what was expected."""


class PeerLost(Exception):
    """Another process of a data-parallel run stopped: this one ends too, with one line, not a hang."""
