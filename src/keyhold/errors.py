"""The service errors every domain raises. They carry a message, never an HTTP status or a wire code:
each protocol maps them to its own shape in one table (see protocols/*/errors.py).

    ServiceError
    ├── NotFound          the named thing does not exist
    ├── AlreadyExists     a create named something that exists
    ├── InvalidInput      the request is well-formed but its values are not acceptable
    ├── InvalidState      the thing exists but its state forbids the operation
    ├── Conflict          a concurrent change won
    ├── LimitExceeded     a quota or count limit was reached
    ├── AccessDenied      the caller may not do this
    └── Unsupported       Keyhold does not implement this operation or option
"""


class ServiceError(Exception):
    """Root of the errors a caller may see. ``message`` is safe to return on the wire."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    pass


class AlreadyExists(ServiceError):
    pass


class InvalidInput(ServiceError):
    pass


class InvalidState(ServiceError):
    pass


class Conflict(ServiceError):
    pass


class LimitExceeded(ServiceError):
    pass


class AccessDenied(ServiceError):
    pass


class Unsupported(ServiceError):
    pass
