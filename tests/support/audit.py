"""What the audit trail tests share: a clock they move by hand, the account, and a record builder."""

from typing import Any

from keyhold.audit import api_event, key_resource

START = 1714557600.0  # 2024-05-01T10:00:00Z
HOUR = 3600.0
ACCOUNT = "000000000000"


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def root_event(request_id: str, when: float, event_name: str = "Decrypt", **params: Any) -> dict[str, Any]:
    """A CloudTrail record of a root call on key "k" at ``when``."""
    return api_event(
        event_name=event_name,
        request_id=request_id,
        event_time=when,
        region="us-east-1",
        source_ip="127.0.0.1",
        user_agent="test",
        principal_arn=f"arn:aws:iam::{ACCOUNT}:root",
        account_id=ACCOUNT,
        principal_id=ACCOUNT,
        access_key_id="AKIAEXAMPLE",
        is_root=True,
        request_parameters={"KeyId": "k", **params},
        response_elements=None,
        resources=[key_resource(ACCOUNT, f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k")],
        error_code=None,
        error_message=None,
        read_only=True,
    )
