"""``keyhold audit verify``: check a trail against its digest chains, as CloudTrail's validate-logs does.

Every digest must be signed by the trail's key and sit where it says it was written; each node's chain of digests
(one per account and region) is walked from the newest to the first, checking that each digest names, hashes and
quotes the signature of the one before it; every log file a digest names must exist and hash as recorded; and every
log file must be named by a digest, unless it was written after its node's newest digest (it is "not yet covered":
a warning, since the next hourly digest will cover it, or its node stopped without a final digest).
"""

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from keyhold.audit.digest import (
    SIGNATURE_ALGORITHM,
    SIGNATURE_SUFFIX,
    fingerprint,
    is_digest_name,
    parse_log_name,
    sha256_hex,
    signature_valid,
    signing_string,
    trail_files,
)
from keyhold.audit.events import parse_iso_time

_REQUIRED = ("digestStartTime", "digestEndTime", "digestS3Object", "logFiles", "keyholdNodeId", "awsAccountId")


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: ``kind`` (MODIFIED, DELETED, INSERTED, REORDERED, FORGED, UNVERIFIABLE, or a warning's kind),
    the trail-relative path of the file concerned, and one sentence saying what is wrong."""

    kind: str
    path: str
    detail: str
    error: bool = True

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}: {self.detail}"


@dataclass(slots=True)
class Report:
    problems: list[Problem] = field(default_factory=list)
    log_files: int = 0  # log files whose hash matched a signed digest
    digests: int = 0  # digests whose signature verified

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.error]

    @property
    def warnings(self) -> list[Problem]:
        return [problem for problem in self.problems if not problem.error]


@dataclass(slots=True)
class _Digest:
    path: str  # where it is
    claimed: str  # where it says it was written (digestS3Object, signed)
    sha256: str
    signature: str
    content: dict[str, Any]

    @property
    def chain(self) -> tuple[str, str, str]:
        content = self.content
        return str(content["keyholdNodeId"]), str(content["awsAccountId"]), str(content.get("keyholdRegion"))

    @property
    def start(self) -> float:
        return parse_iso_time(self.content["digestStartTime"])

    @property
    def end(self) -> float:
        return parse_iso_time(self.content["digestEndTime"])


def verify_trail(directory: Path, public_key_pem: bytes) -> list[Problem]:
    """Every problem found in the trail under ``directory``; errors and warnings (``Problem.error``)."""
    return check_trail(directory, public_key_pem).problems


def check_trail(directory: Path, public_key_pem: bytes) -> Report:
    public = serialization.load_pem_public_key(public_key_pem)
    if not isinstance(public, rsa.RSAPublicKey):
        raise ValueError("the trail's public key must be an RSA key")
    return _Checker(directory, public).run()


class _Checker:
    def __init__(self, directory: Path, public: rsa.RSAPublicKey) -> None:
        self.directory = directory
        self.public = public
        self.expected_fingerprint = fingerprint(public)
        self.report = Report()
        self.files = dict(trail_files(directory)) if directory.is_dir() else {}
        self.digest_paths = {rel for rel in self.files if is_digest_name(rel.rsplit("/", 1)[-1])}
        self.authentic: list[_Digest] = []
        self.listed_by: dict[str, str] = {}  # log file -> the first readable digest naming it, authentic or not
        self.gaps: dict[tuple[str, str, str], list[tuple[float, float, str]]] = {}

    def problem(self, kind: str, path: str, detail: str, error: bool = True) -> None:
        self.report.problems.append(Problem(kind, path, detail, error))

    def run(self) -> Report:
        for rel in sorted(self.digest_paths):
            self._read_digest(rel)
        self._orphan_signatures()
        by_claimed = self._placement()
        chains: dict[tuple[str, str, str], list[_Digest]] = {}
        for digest in self.authentic:
            chains.setdefault(digest.chain, []).append(digest)
        for key, members in sorted(chains.items()):
            self._walk(key, sorted(members, key=lambda d: (d.end, d.claimed), reverse=True), by_claimed)
        self._log_files()
        self._uncovered(chains)
        self.report.digests = len(self.authentic)
        return self.report

    def _read_digest(self, rel: str) -> None:
        data = self.files[rel].read_bytes()
        try:
            content = json.loads(gzip.decompress(data))
            if not isinstance(content, dict) or any(name not in content for name in _REQUIRED):
                raise ValueError("not a digest")
            for entry in content["logFiles"]:
                self.listed_by.setdefault(str(entry["s3Object"]), rel)
        except (ValueError, EOFError, OSError, KeyError, TypeError):
            self.problem("MODIFIED", rel, "this digest file cannot be read as a gzip JSON digest; it was modified")
            return
        sig_path = self.files[rel].with_name(self.files[rel].name + SIGNATURE_SUFFIX)
        if not sig_path.is_file():
            self.problem("DELETED", rel + SIGNATURE_SUFFIX, f"the signature file of digest {rel} is missing")
            return
        signature = sig_path.read_text(errors="replace").strip()
        claimed = str(content["digestS3Object"])
        message = signing_string(str(content["digestEndTime"]), claimed, data, content.get("previousDigestSignature"))
        signer = content.get("digestPublicKeyFingerprint")
        if signer != self.expected_fingerprint:
            self.problem(
                "FORGED",
                rel,
                f"this digest was signed with the key whose fingerprint is {signer}, "
                f"not the trail's key {self.expected_fingerprint}",
            )
        elif content.get("digestSignatureAlgorithm") != SIGNATURE_ALGORITHM or not signature_valid(
            self.public, message, signature
        ):
            self.problem("FORGED", rel, "the digest's signature does not verify with the trail's public key")
        else:
            self.authentic.append(_Digest(rel, claimed, sha256_hex(data), signature, content))

    def _orphan_signatures(self) -> None:
        if not self.directory.is_dir():
            return
        for sig in sorted(self.directory.rglob("*" + SIGNATURE_SUFFIX)):
            rel = sig.relative_to(self.directory).as_posix()[: -len(SIGNATURE_SUFFIX)]
            if rel not in self.files and not sig.name.startswith("."):
                self.problem("DELETED", rel, "this digest is missing; only its signature file remains")

    def _placement(self) -> dict[str, _Digest]:
        by_claimed: dict[str, _Digest] = {}
        for digest in sorted(self.authentic, key=lambda d: d.path != d.claimed):
            if digest.path != digest.claimed:
                if digest.claimed in by_claimed:
                    self.problem("INSERTED", digest.path, f"this is a copy of the digest {digest.claimed}")
                    continue
                self.problem(
                    "REORDERED",
                    digest.path,
                    f"this digest was written as {digest.claimed}; digest files were moved or swapped",
                )
            by_claimed[digest.claimed] = digest
        self.authentic = list(by_claimed.values())
        return by_claimed

    def _walk(self, key: tuple[str, str, str], members: list[_Digest], by_claimed: dict[str, _Digest]) -> None:
        """Newest to oldest: each digest must name, hash and quote the signature of the one before it."""
        named_by: dict[str, str] = {}
        broken = False
        for digest in members:
            content = digest.content
            previous = content.get("previousDigestS3Object")
            if previous is None:
                continue
            target = by_claimed.get(previous)
            if target is None:
                if previous not in self.digest_paths:  # else already reported as unreadable or forged
                    self.problem("DELETED", previous, f"this digest is missing; the digest {digest.path} names it")
                earlier = [d.end for d in members if d.end <= digest.start and d is not digest]
                self.gaps.setdefault(key, []).append((max(earlier, default=0.0), digest.start, previous))
                broken = True
                continue
            named_by.setdefault(previous, digest.path)
            if named_by[previous] != digest.path:
                self.problem(
                    "REORDERED",
                    digest.path,
                    f"this digest and {named_by[previous]} both name {previous} as their previous digest",
                )
            elif target.chain != key or target.sha256 != content.get("previousDigestHashValue"):
                self.problem(
                    "REORDERED",
                    digest.path,
                    f"the SHA-256 of the previous digest {previous} does not match the value this digest records",
                )
            elif target.signature != content.get("previousDigestSignature"):
                self.problem(
                    "REORDERED",
                    digest.path,
                    f"the signature of the previous digest {previous} does not match the one this digest quotes",
                )
            elif content.get("digestStartTime") != target.content.get("digestEndTime"):
                self.problem(
                    "REORDERED", digest.path, f"this digest does not start where its previous digest {previous} ends"
                )
        if broken:
            return
        for digest in members[1:]:
            if digest.claimed not in named_by:
                self.problem(
                    "REORDERED",
                    digest.path,
                    f"no later digest of node {key[0]} names this digest as its previous one; "
                    "the chain was reordered or a digest was inserted",
                )

    def _log_files(self) -> None:
        listed: dict[str, str] = {}
        for digest in self.authentic:
            for entry in digest.content["logFiles"]:
                listed.setdefault(str(entry.get("hashValue")), str(entry.get("s3Object")))
        for digest in sorted(self.authentic, key=lambda d: d.path):
            dropped = digest.content.get("keyholdDroppedRecords") or 0
            if dropped:
                self.problem(
                    "DROPPED RECORDS",
                    digest.path,
                    f"{dropped} records of this period were dropped by the writer and are not in the trail",
                    error=False,
                )
            for entry in digest.content["logFiles"]:
                rel, expected = str(entry.get("s3Object")), str(entry.get("hashValue"))
                path = self.files.get(rel)
                if path is None:
                    self.problem("DELETED", rel, f"this log file is missing; the digest {digest.path} names it")
                    continue
                actual = sha256_hex(path.read_bytes())
                if actual == expected:
                    self.report.log_files += 1
                    continue
                detail = f"SHA-256 {actual} does not match {expected} in the digest {digest.path}"
                other = listed.get(actual)
                if other is not None and other != rel:
                    detail += f"; it holds what the digest lists for {other} (the files were swapped or renamed)"
                self.problem("MODIFIED", rel, detail)

    def _uncovered(self, chains: dict[tuple[str, str, str], list[_Digest]]) -> None:
        covered = {str(entry.get("s3Object")) for digest in self.authentic for entry in digest.content["logFiles"]}
        for rel in sorted(set(self.files) - self.digest_paths - covered):
            if rel in self.listed_by:
                self.problem(
                    "UNVERIFIABLE",
                    rel,
                    f"this log file is named only by the digest {self.listed_by[rel]}, which failed verification, "
                    "so it cannot be checked",
                )
                continue
            parsed = parse_log_name(rel.rsplit("/", 1)[-1])
            if parsed is None:
                self.problem("INSERTED", rel, "this file is not a log file or digest that Keyhold writes")
                continue
            key = (parsed.node_id, parsed.account, parsed.region)
            members = chains.get(key, [])
            last_end = max((d.end for d in members), default=None)
            if last_end is None or parsed.written >= last_end // 60 * 60:
                self.problem(
                    "NOT YET COVERED",
                    rel,
                    f"this log file is newer than the last digest of node {parsed.node_id}; "
                    "it is not yet covered by a digest",
                    error=False,
                )
                continue
            gap = next((g for g in self.gaps.get(key, []) if g[0] // 60 * 60 <= parsed.written <= g[1]), None)
            if gap is not None:
                self.problem(
                    "UNVERIFIABLE",
                    rel,
                    f"this log file was written in the period of the missing digest {gap[2]} and cannot be checked",
                )
            else:
                self.problem(
                    "INSERTED",
                    rel,
                    f"no digest names this log file, yet node {parsed.node_id}'s digests cover the time it "
                    "claims to have been written",
                )
