"""The one error type the CLI turns into a single line and exit status 2."""


class UsageError(Exception):
    """Bad input of any kind: the message names the bad value and what is allowed."""


EXIT_USAGE = 2
