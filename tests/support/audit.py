"""What the audit trail tests share: a clock they move by hand, and the account their records belong to."""

START = 1714557600.0  # 2024-05-01T10:00:00Z
HOUR = 3600.0
ACCOUNT = "000000000000"


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
