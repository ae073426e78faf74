"""The exceptions the CLI turns into one sentence and an exit code: bad input (`UserError`,
exit 1) and a stop asked for before a time limit (`Preempted`, exit `STOPPED_EXIT`)."""

# EX_TEMPFAIL: "try again later". A batch job that sees it requeues itself (scripts/cluster/).
STOPPED_EXIT = 75


class UserError(Exception):
    """Bad input or environment the user can fix; the message says what is wrong and what to do."""


class Preempted(Exception):
    """A stop was requested (the scheduler's warning signal or the stop file) and the work
    stopped at a step boundary with everything saved; the same command resumes it.
    Not a UserError: nothing is wrong."""
