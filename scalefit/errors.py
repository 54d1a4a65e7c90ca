"""Errors a user can act on. The CLI prints them as one line and exits with status 2."""


class ScalefitError(Exception):
    """A problem with the user's input or request (not a bug): shown as one line, no traceback."""


class DataError(ScalefitError):
    """A gain table that cannot be used as given; the message names the file, row and column."""
