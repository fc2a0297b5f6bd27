"""STS over the AWS Query protocol (API version 2011-06-15): GetCallerIdentity."""

from keyhold.protocols.sts.router import auth_error, handle

__all__ = ["auth_error", "handle"]
