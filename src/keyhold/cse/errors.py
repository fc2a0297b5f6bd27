"""The errors of keyhold.cse. Messages name the object and the check, never key material or plaintext."""


class CseError(Exception):
    """Root of every client-side encryption error."""


class WrongKey(CseError):
    """The keyring cannot open this object's data key (another key, another wrap algorithm, or no access)."""


class ContextMismatch(CseError):
    """The encryption context given on get differs from the one stored with the object."""


class TamperedObject(CseError):
    """The object's body or encryption metadata fails authentication or is inconsistent."""


class NotEncrypted(CseError):
    """The object carries no S3 Encryption Client metadata."""


class UnsupportedFormat(CseError):
    """A format, algorithm or wrap this client does not read (or reads only when explicitly allowed)."""
