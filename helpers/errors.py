"""One exception type for bad input: the CLI prints its message as a single sentence."""


class UserError(Exception):
    """Bad input or environment the user can fix; the message says what is wrong and what to do."""
