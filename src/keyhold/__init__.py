"""Keyhold: a self-hosted, AWS-wire-compatible KMS and the services that use it for envelope encryption."""

__version__ = "0.1.0"
