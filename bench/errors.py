"""The one error type the CLI turns into a single line and exit status 2."""


class UsageError(Exception):
    """Bad input of any kind: the message names the bad value and what is allowed."""


EXIT_USAGE = 2


def read_user_text(path, what: str) -> str:
    """A file the user named (a config, an op file), as UTF-8 text; any way it
    cannot be read is one UsageError naming `what` and the path."""
    from pathlib import Path

    where = f"{what} {str(path)!r}"
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{where} not found: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{where} is a directory, not a file") from None
    except PermissionError:
        raise UsageError(f"{where} cannot be read: permission denied") from None
    except UnicodeDecodeError:
        raise UsageError(f"{where} is not text (UTF-8 expected)") from None
    except OSError as e:
        raise UsageError(f"{where} cannot be read: {e.strerror}") from None
