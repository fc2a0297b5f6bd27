"""The `keyhold` command."""

import argparse
import os
import sys
from collections.abc import Sequence

from keyhold import __version__
from keyhold.audit.cli import add_audit_commands
from keyhold.audit.cli import run as run_audit
from keyhold.config import add_serve_arguments, settings_from
from keyhold.s3_cli import add_s3_commands
from keyhold.s3_cli import run as run_s3
from keyhold.seed import add_kms_commands
from keyhold.seed import run as run_kms


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="keyhold", description="Self-hosted, AWS-wire-compatible KMS.")
    parser.add_argument("--version", action="version", version=f"keyhold {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the Keyhold server")
    add_serve_arguments(serve_parser, os.environ)
    add_audit_commands(commands)
    add_kms_commands(commands)
    add_s3_commands(commands)
    args = parser.parse_args(argv)
    if args.command == "audit":
        return run_audit(args)
    if args.command == "kms":
        return run_kms(args)
    if args.command == "s3":
        return run_s3(args)
    if args.command == "serve":
        from keyhold.server import serve

        return serve(settings_from(args))
    parser.print_help(sys.stderr)
    return 2
