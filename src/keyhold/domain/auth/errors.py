"""The policy engine's one error: a policy document that cannot be parsed or is not a valid policy."""

from keyhold.errors import InvalidInput


class MalformedPolicy(InvalidInput):
    """The document is not valid JSON or not a valid policy. ``message`` says what is wrong, in AWS's words
    where AWS has them ("Policy contains a statement with one or more invalid principals.")."""
