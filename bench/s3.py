"""Object store throughput: PUT and GET of a large object in every encryption mode, Keyhold beside moto.

Each transfer is one `curl` with a presigned (SigV4) URL, so the client is not the bottleneck: curl streams a
file from the page cache and discards what it downloads. For each server and mode it reports the median MB/s of
several PUTs and GETs (1 MB = 10^6 bytes), and the server's peak RSS while the objects stream (VmHWM, reset
before each mode through /proc/<pid>/clear_refs). Keyhold runs with --object-encryption off so that "none" is
the same server without encryption; SSE-C goes over plain HTTP with --allow-ssec-over-http (both test-rig
switches) so that every mode crosses the same HTTP path.

Then, on Keyhold only: a 1 GiB SSE-C object, and a 1 MiB range GET from its middle, reporting the bytes the
server read for it (rchar of /proc/<pid>/io: bytes returned by read syscalls, which includes the request's own
few hundred bytes from the socket and the metadata database's pages), and the peak RSS while the 1 GiB object
streams in and out.

    python bench/s3.py [--size-mib 256] [--runs 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kms import BenchError, Target, cpu_model, keyhold_server, moto_server, version

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
MODES = ("none", "AES256", "aws:kms", "aws:kms:dsse", "SSE-C")
CUSTOMER_KEY = bytes(range(32))
CHUNK = 65536
TARGET_GET = 800.0
TARGET_PUT = 400.0
TARGET_OVERHEAD = 0.15
TARGET_RSS_MIB = 150.0
PRESIGN = Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1})


@dataclass
class ModeResult:
    target: str
    mode: str
    put_mbps: list[float] = field(default_factory=list)
    get_mbps: list[float] = field(default_factory=list)
    peak_rss_mib: float = 0.0

    @property
    def put(self) -> float:
        return statistics.median(self.put_mbps)

    @property
    def get(self) -> float:
        return statistics.median(self.get_mbps)


def s3_client(target: Target) -> Any:
    import boto3

    return boto3.session.Session().client(
        "s3",
        endpoint_url=target.url,
        region_name=target.region,
        aws_access_key_id=target.access_key,
        aws_secret_access_key=target.secret_key,
        config=PRESIGN,
    )


def sse_params(mode: str, key_id: str | None) -> tuple[dict[str, Any], list[str]]:
    """The presign parameters and the matching headers curl must send."""
    if mode == "none":
        return {}, []
    if mode == "SSE-C":
        md5 = base64.b64encode(hashlib.md5(CUSTOMER_KEY, usedforsecurity=False).digest()).decode()
        params: dict[str, Any] = {}  # the SSE-C headers travel unsigned beside the presigned URL (S3 allows it)
        headers = {
            "x-amz-server-side-encryption-customer-algorithm": "AES256",
            "x-amz-server-side-encryption-customer-key": base64.b64encode(CUSTOMER_KEY).decode(),
            "x-amz-server-side-encryption-customer-key-MD5": md5,
        }
        return params, [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    params = {"ServerSideEncryption": mode}
    headers = ["-H", f"x-amz-server-side-encryption: {mode}"]
    if mode.startswith("aws:kms") and key_id:
        params["SSEKMSKeyId"] = key_id
        headers += ["-H", f"x-amz-server-side-encryption-aws-kms-key-id: {key_id}"]
    return params, headers


def curl(args: list[str], what: str) -> float:
    """Run one curl transfer; the speed in MB/s. Any status but 2xx is an error, never a number."""
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "--fail-with-body",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{speed_upload} %{speed_download}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        raise BenchError(f"{what}: curl failed ({out.returncode}): {out.stdout} {out.stderr}")
    code, up, down = out.stdout.split()
    if not code.startswith("2"):
        raise BenchError(f"{what}: HTTP {code}")
    return max(float(up), float(down)) / 1e6


def server_pids(root: int) -> list[int]:
    """The server process and its children (worker processes)."""
    pids = [root]
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{root}/task/{root}/children").read_text().split():
            pids.append(int(child))
    return pids


def reset_peak(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss_mib(pids: list[int]) -> float:
    peak = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
    return peak


def rchar(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/io").read_text().splitlines():
                if line.startswith("rchar:"):
                    total += int(line.split()[1])
    return total


def bench_mode(target: Target, s3: Any, mode: str, key_id: str | None, source: Path, runs: int) -> ModeResult:
    result = ModeResult(target.name, mode)
    params, headers = sse_params(mode, key_id)
    pids = server_pids(target.pid)
    reset_peak(pids)
    key = f"bench-{mode.replace(':', '-')}"
    get_params = {k: v for k, v in params.items() if k.startswith("SSECustomer")}
    get_headers = headers if mode == "SSE-C" else []
    for run in range(runs):
        put_url = s3.generate_presigned_url(
            "put_object", Params={"Bucket": "bench", "Key": key, **params}, ExpiresIn=3600
        )
        result.put_mbps.append(curl(["-T", str(source), *headers, put_url], f"{target.name} PUT {mode} #{run}"))
        get_url = s3.generate_presigned_url(
            "get_object", Params={"Bucket": "bench", "Key": key, **get_params}, ExpiresIn=3600
        )
        result.get_mbps.append(curl([*get_headers, get_url], f"{target.name} GET {mode} #{run}"))
    result.peak_rss_mib = peak_rss_mib(server_pids(target.pid))
    return result


def kms_key(target: Target) -> str:
    return str(target.client("kms").create_key(Description="s3 bench")["KeyMetadata"]["Arn"])


def bench_target(target: Target, source: Path, runs: int, modes: tuple[str, ...]) -> list[ModeResult]:
    s3 = s3_client(target)
    s3.create_bucket(Bucket="bench")
    key_id = kms_key(target)
    results = []
    for mode in modes:
        print(f"  {target.name}: {mode}", flush=True)
        results.append(bench_mode(target, s3, mode, key_id, source, runs))
    return results


@dataclass
class RangeResult:
    object_mib: int
    range_bytes: int
    bytes_read: int
    limit: int
    put_mbps: float
    get_mbps: float
    peak_rss_mib: float


def bench_range(target: Target, workdir: Path, object_mib: int) -> RangeResult:
    """A 1 GiB SSE-C object streamed in and out, then a 1 MiB range GET from its middle."""
    s3 = s3_client(target)
    big = workdir / "big.bin"
    write_random(big, object_mib << 20)
    params, headers = sse_params("SSE-C", None)
    pids = server_pids(target.pid)
    reset_peak(pids)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "bench", "Key": "big", **params}, ExpiresIn=3600)
    put = curl(["-T", str(big), *headers, url], "PUT 1 GiB SSE-C")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": "big", **params}, ExpiresIn=3600)
    get = curl([*headers, url], "GET 1 GiB SSE-C")
    peak = peak_rss_mib(server_pids(target.pid))
    big.unlink()
    start = (object_mib << 20) // 2 + 12345  # unaligned: the worst case spans one more chunk
    length = 1 << 20
    before = rchar(pids)
    curl([*headers, "-H", f"Range: bytes={start}-{start + length - 1}", url], "range GET")
    read = rchar(pids) - before
    return RangeResult(object_mib, length, read, length + 2 * CHUNK, put, get, peak)


def write_random(path: Path, size: int) -> None:
    with path.open("wb") as out:
        remaining = size
        while remaining:
            block = os.urandom(min(remaining, 1 << 20))
            out.write(block)
            remaining -= len(block)


def markdown(results: list[ModeResult], ranged: RangeResult, args: argparse.Namespace) -> str:
    lines = [
        f"PUT and GET of a {args.size_mib} MiB object with curl and presigned URLs; medians of {args.runs} runs, MB/s.",
        "",
        "| server | mode | PUT MB/s | GET MB/s | peak RSS MiB |",
        "|---|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r.target} | {r.mode} | {r.put:,.0f} | {r.get:,.0f} | {r.peak_rss_mib:,.0f} |")
    base = {r.mode: r for r in results if r.target.startswith("Keyhold")}.get("none")
    if base is not None:
        lines += [
            "",
            "Cost of encryption on Keyhold (median throughput against the same server without encryption):",
            "",
        ]
        for r in results:
            if r.target.startswith("Keyhold") and r.mode != "none":
                lines.append(
                    f"- {r.mode}: PUT {100 * (r.put / base.put - 1):+.1f}%, GET {100 * (r.get / base.get - 1):+.1f}%"
                )
    lines += [
        "",
        f"{ranged.object_mib} MiB SSE-C object: PUT {ranged.put_mbps:,.0f} MB/s, GET {ranged.get_mbps:,.0f} MB/s, "
        f"server peak RSS {ranged.peak_rss_mib:,.0f} MiB; a {ranged.range_bytes:,}-byte range GET read "
        f"{ranged.bytes_read:,} bytes (limit: range + two chunks = {ranged.limit:,}).",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--big-mib", type=int, default=1024, help="the SSE-C object of the range test")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--skip-moto", action="store_true")
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="keyhold-s3-bench-") as name:
        yield Path(name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[ModeResult] = []
    with workdir() as work:
        source = work / "object.bin"
        write_random(source, args.size_mib << 20)
        extra = ("--object-encryption", "off", "--allow-ssec-over-http")
        with keyhold_server(args.workers, work, extra) as keyhold:
            results += bench_target(keyhold, source, args.runs, MODES)
            ranged = bench_range(keyhold, work, args.big_mib)
        if not args.skip_moto:
            with moto_server(work) as moto:
                results += bench_target(moto, source, args.runs, ("none", "AES256", "aws:kms", "SSE-C"))
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()},
        "versions": {"moto": version("moto"), "boto3": version("boto3")},
        "args": {k: str(v) for k, v in vars(args).items()},
        "modes": [asdict(r) | {"put_median": r.put, "get_median": r.get} for r in results],
        "range": asdict(ranged),
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.json or RESULTS_DIR / f"s3-{stamp}.json"
    out.write_text(json.dumps(report, indent=2))
    print(markdown(results, ranged, args))
    print(f"\nraw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
