"""One exception type for mistakes a user can fix: the CLIs print it as one line and exit 2."""


class UserError(Exception):
    """A bad config, file or value. The message names it and says what was expected."""
