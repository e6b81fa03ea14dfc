"""The one exception type that the CLI reports as a single line without a traceback."""


class SelrobError(Exception):
    """A problem with the user's input, data or files (not a bug in selrob).

    The CLI prints ``selrob: error: <message>`` and exits non-zero; library callers can catch it.
    """
