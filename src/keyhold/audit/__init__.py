"""The audit trail: CloudTrail-format records of every KMS call, written off the request path into log files that
hourly digest files hash, chain and sign (CloudTrail's log file integrity design), with verify and search.

A service of its own: it imports nothing from keyhold.protocols or keyhold.domain. See docs/audit.md.
"""

from keyhold.audit.digest import DigestWriter, fingerprint, load_or_create_signing_key, public_key_pem
from keyhold.audit.events import api_event, is_read_only, key_resource, redact, response_elements, service_event
from keyhold.audit.search import search
from keyhold.audit.verify import Problem, Report, check_trail, verify_trail
from keyhold.audit.writer import AuditWriter, default_node_id

__all__ = [
    "AuditWriter",
    "DigestWriter",
    "Problem",
    "Report",
    "api_event",
    "check_trail",
    "default_node_id",
    "fingerprint",
    "is_read_only",
    "key_resource",
    "load_or_create_signing_key",
    "public_key_pem",
    "redact",
    "response_elements",
    "search",
    "service_event",
    "verify_trail",
]
