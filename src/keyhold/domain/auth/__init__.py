"""Authorization: the one IAM policy engine (key policies, IAM identity policies, bucket policies)."""

from keyhold.domain.auth.errors import MalformedPolicy
from keyhold.domain.auth.policy import (
    Decision,
    Effect,
    Policy,
    PolicyKind,
    Principal,
    Request,
    Statement,
    evaluate,
    parse_policy,
)

__all__ = [
    "Decision",
    "Effect",
    "MalformedPolicy",
    "Policy",
    "PolicyKind",
    "Principal",
    "Request",
    "Statement",
    "evaluate",
    "parse_policy",
]
