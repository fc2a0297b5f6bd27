"""IAM over the AWS Query protocol (API version 2010-05-08): users, access keys and inline user policies."""

from keyhold.protocols.iam.router import auth_error, handle

__all__ = ["auth_error", "handle"]
