"""The one error the S3 input checks raise: AWS's code, message and HTTP status, safe to send back."""

__all__ = ["S3InputError"]


class S3InputError(Exception):
    """A request S3 would refuse: ``code`` and ``message`` are AWS's verbatim, ``status`` its HTTP status.

    ``details`` are the extra elements AWS puts in the error document after ``<Message>``, in order
    (for example ``NumberBytesExpected`` / ``NumberBytesProvided`` for IncompleteBody).
    """

    def __init__(self, code: str, message: str, status: int = 400, details: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.details = details

    def __repr__(self) -> str:
        return f"S3InputError({self.code!r}, {self.message!r}, {self.status}, {self.details!r})"
