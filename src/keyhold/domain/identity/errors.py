"""Identity errors that need a finer meaning than the shared ServiceError tree gives (see keyhold/errors.py).

Each subclasses the general error it specialises, so a protocol that does not know it still maps it sensibly.
"""

from keyhold.errors import Conflict, InvalidInput


class DeleteConflict(Conflict):
    """The entity cannot be deleted while things still hang off it (access keys, policies)."""


class MalformedPolicyDocument(InvalidInput):
    """A policy document is not valid JSON or not a valid identity policy."""
