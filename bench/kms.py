"""GenerateDataKey throughput: Keyhold (2 and 1 workers) against moto's server, side by side.

One real GenerateDataKey request (KeySpec AES_256, a two-pair EncryptionContext) is signed with
botocore's SigV4 signer, and `wrk` replays it over many keep-alive connections. SigV4 signatures stay
valid for 15 minutes and AWS does not reject replays, so the server still parses the request,
recomputes and checks the signature, and generates and wraps a fresh data key on every call: only the
client's signing cost is taken out of the measurement. The request is re-signed before every wrk run.
A Lua `response()` hook counts every non-200 answer; a run with any of them (or with socket errors) is
reported as FAILED, never as throughput.

    python bench/kms.py [--duration 10] [--runs 3] [--connections 64] [--json out.json]

Prints a Markdown table and writes the raw results to bench/results/kms-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import datetime
import http.client
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
TARGET_RPS = 5000.0
KEYHOLD_ACCOUNT = "000000000000"
ALIAS = "alias/keyhold-bench"
ENCRYPTION_CONTEXT = {"purpose": "benchmark", "tenant": "acme-42"}
MARKER = "KEYHOLD_BENCH_RESULT "
TARGETS = ("keyhold2", "keyhold2-id", "keyhold1", "moto")
BOTO_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30)


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


# --------------------------------------------------------------------------------------------- servers


@dataclass
class Target:
    """A running server that answers the KMS API."""

    name: str
    url: str
    region: str
    access_key: str
    secret_key: str
    log_path: Path
    pid: int

    def client(self, service: str) -> Any:
        return boto3.session.Session().client(
            service,
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=BOTO_CONFIG,
        )

    def log_problems(self) -> list[str]:
        """Lines of the server log that suggest trouble (tracebacks, errors, worker deaths)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        needles = ("Traceback", "ERROR", "CRITICAL", "Exception", "died", "killed", "Timeout")
        return [line for line in text.splitlines() if any(n in line for n in needles)]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the process (and its process group, which we created), then SIGKILL what is left."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"  process {proc.pid} ignored SIGTERM for {timeout:.0f}s; killing it", file=sys.stderr)
    # Workers forked by the server live in the session started for it: make sure none outlives the run.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def wait_until(what: str, check: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            raise BenchError(f"{what}: the server exited with status {proc.returncode}:\n{tail}")
        try:
            if check():
                return
        except Exception as exc:  # any failure here means "not ready yet"
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
    raise BenchError(f"{what}: not ready after {timeout:.0f}s (last error: {last_error})\n{tail}")


def child_env() -> dict[str, str]:
    # KEYHOLD_* settings from the caller's shell (a PostgreSQL URL, a port) would change what is measured.
    return {k: v for k, v in os.environ.items() if not k.startswith("KEYHOLD_")}


@contextlib.contextmanager
def keyhold_server(workers: int, workdir: Path, extra_args: Sequence[str] = ()) -> Iterator[Target]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"keyhold-w{workers}-", dir=workdir))
    log = workdir / f"keyhold-w{workers}.log"
    argv = [sys.executable, "-m", "keyhold", "serve", "--data-dir", str(data_dir)]
    argv += ["--http-port", "0", "--https-port", "0", "--workers", str(workers), *extra_args]
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            argv, stdout=log_file, stderr=subprocess.STDOUT, env=child_env(), start_new_session=True
        )
    try:
        endpoints = data_dir / "endpoints.json"
        wait_until("Keyhold endpoints.json", endpoints.exists, proc, log, timeout=60)
        url = json.loads(endpoints.read_text())["http"]
        creds = configparser.ConfigParser()
        creds.read(data_dir / "credentials")
        config = configparser.ConfigParser()
        config.read(data_dir / "config")
        target = Target(
            name=f"Keyhold, {workers} worker{'s' if workers > 1 else ''}",
            url=url,
            region=config.get("default", "region", fallback="us-east-1"),
            access_key=creds.get("default", "aws_access_key_id"),
            secret_key=creds.get("default", "aws_secret_access_key"),
            log_path=log,
            pid=proc.pid,
        )
        kms = target.client("kms")
        wait_until("Keyhold KMS API", lambda: bool(kms.list_keys()), proc, log, timeout=60)
        yield target
    finally:
        stop_process(proc)
        if proc.returncode not in (0, -signal.SIGTERM, None):
            print(f"  note: Keyhold exited with status {proc.returncode} on SIGTERM", file=sys.stderr)
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def moto_server(workdir: Path) -> Iterator[Target]:
    port = free_port()
    log = workdir / "moto.log"
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            argv, stdout=log_file, stderr=subprocess.STDOUT, env=child_env(), start_new_session=True
        )
    try:
        target = Target(
            name="moto server",
            url=f"http://127.0.0.1:{port}",
            region="us-east-1",
            access_key="testing",
            secret_key="testing",  # noqa: S106 - moto accepts any credentials
            log_path=log,
            pid=proc.pid,
        )
        kms = target.client("kms")
        wait_until("moto KMS API", lambda: bool(kms.list_keys()), proc, log, timeout=60)
        yield target
    finally:
        stop_process(proc)


# --------------------------------------------------------------------------------------------- request


@dataclass
class SignedRequest:
    url: str
    method: str
    headers: dict[str, str]
    body: str


def conditioned_key_policy(account: str) -> str:
    """A key policy whose use statement has conditions, as production policies do (issue 3's benchmark): the
    account administers the key, and may use it only from the account and with the benchmark's context."""
    root = {"AWS": f"arn:aws:iam::{account}:root"}
    admin = ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
             "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"]  # fmt: skip
    tenant = ENCRYPTION_CONTEXT["tenant"]
    statements = [
        {"Sid": "Administer", "Effect": "Allow", "Principal": root, "Action": admin, "Resource": "*"},
        {
            "Sid": "UseWithinTheAccountForTheTenant",
            "Effect": "Allow",
            "Principal": root,
            "Action": ["kms:GenerateDataKey*", "kms:Encrypt", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:CallerAccount": account, "kms:EncryptionContext:tenant": tenant},
                "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": list(ENCRYPTION_CONTEXT)},
            },
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def create_key(target: Target, key_policy: str = "default") -> str:
    kms = target.client("kms")
    options: dict[str, Any] = {"Description": "keyhold benchmark", "KeyUsage": "ENCRYPT_DECRYPT"}
    if key_policy == "conditions" and target.name.startswith("Keyhold"):
        options["Policy"] = conditioned_key_policy(KEYHOLD_ACCOUNT)
    key_id: str = kms.create_key(**options)["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=ALIAS, TargetKeyId=key_id)
    return key_id


def sign_generate_data_key(target: Target, key_ref: str) -> SignedRequest:
    host = target.url.removeprefix("http://").rstrip("/")
    body = json.dumps({"KeyId": key_ref, "KeySpec": "AES_256", "EncryptionContext": ENCRYPTION_CONTEXT})
    request = AWSRequest(
        method="POST",
        url=f"http://{host}/",
        data=body.encode(),
        headers={
            "Host": host,
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "TrentService.GenerateDataKey",
        },
    )
    SigV4Auth(Credentials(target.access_key, target.secret_key), "kms", target.region).add_auth(request)
    headers = {str(k): str(v) for k, v in request.headers.items()}
    return SignedRequest(url=f"http://{host}/", method="POST", headers=headers, body=body)


def check_signed_request(signed: SignedRequest) -> dict[str, Any]:
    """Send the signed request once and make sure it is a well-formed GenerateDataKey answer."""
    host = signed.headers["Host"]
    hostname, port = host.rsplit(":", 1)
    conn = http.client.HTTPConnection(hostname, int(port), timeout=30)
    try:
        conn.request(signed.method, "/", body=signed.body.encode(), headers=signed.headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise BenchError(f"the signed GenerateDataKey got HTTP {response.status}: {raw[:500]!r}")
    answer: dict[str, Any] = json.loads(raw)
    missing = {"CiphertextBlob", "Plaintext", "KeyId"} - answer.keys()
    if missing:
        raise BenchError(f"the GenerateDataKey answer lacks {sorted(missing)}: {raw[:500]!r}")
    return answer


# --------------------------------------------------------------------------------------------- CPU use

CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (user, nice, system, irq, softirq; not idle, iowait, steal)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / CLK_TCK


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by a process and all its live descendants (the server and its workers)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(rest[1])
        times[int(entry.name)] = (int(rest[11]) + int(rest[12])) / CLK_TCK
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid and child not in tree]
        tree.update(children)
        frontier += children
    return sum(times.get(pid, 0.0) for pid in tree)


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_quiet(max_wait: float, threshold: float = 0.25) -> float:
    """Wait (up to max_wait seconds) until the machine is nearly idle; returns the last busy-cores sample."""
    deadline = time.monotonic() + max_wait
    while True:
        before = machine_busy_seconds()
        time.sleep(1.0)
        busy = machine_busy_seconds() - before
        if busy < threshold or time.monotonic() >= deadline:
            return busy


# --------------------------------------------------------------------------------------------- wrk


def lua_string(text: str) -> str:
    """A Lua string literal for ASCII text (every byte that is not plainly safe as a 3-digit escape)."""
    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_:/.=,;+*")
    return '"' + "".join(c if c in safe else f"\\{ord(c):03d}" for c in text.encode().decode("latin-1")) + '"'


LUA_TEMPLATE = """\
-- Generated by bench/kms.py: replays one SigV4-signed GenerateDataKey and counts non-200 answers.
wrk.method = {method}
wrk.body = {body}
{headers}

local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non200 = 0
  statuses = ""
  first_error = ""
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    if not string.find(statuses, "|" .. status .. "|", 1, true) then
      statuses = statuses .. "|" .. status .. "|"
    end
    if first_error == "" then
      first_error = status .. " " .. string.sub(body or "", 1, 300)
    end
  end
end

local function json_string(s)
  return '"' .. string.gsub(s, '[%c"\\\\]', function(c)
    return string.format("\\\\u%04x", string.byte(c))
  end) .. '"'
end

function done(summary, latency, requests)
  local non200 = 0
  local statuses = ""
  local first_error = ""
  for _, thread in ipairs(threads) do
    non200 = non200 + thread:get("non200")
    statuses = statuses .. thread:get("statuses")
    if first_error == "" then
      first_error = thread:get("first_error")
    end
  end
  local e = summary.errors
  io.write(string.format(
    '{marker}{{"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,"non200":%.0f,"statuses":%s,' ..
    '"first_error":%s,"errors":{{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f}},' ..
    '"latency_us":{{"min":%.0f,"mean":%.1f,"max":%.0f,"p50":%.0f,"p90":%.0f,"p99":%.0f,"p999":%.0f}}}}\\n',
    summary.requests, summary.duration, summary.bytes, non200, json_string(statuses),
    json_string(first_error), e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
"""


def lua_script(signed: SignedRequest) -> str:
    headers = "\n".join(
        f"wrk.headers[{lua_string(name)}] = {lua_string(value)}" for name, value in signed.headers.items()
    )
    return LUA_TEMPLATE.format(
        method=lua_string(signed.method), body=lua_string(signed.body), headers=headers, marker=MARKER
    )


@dataclass
class WrkRun:
    connections: int
    duration_s: float
    requests: int
    rps: float
    non200: int
    socket_errors: dict[str, int]
    latency_us: dict[str, float]
    first_error: str
    statuses: list[str]
    cpu_cores: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        errors = {k: v for k, v in self.socket_errors.items() if k != "status"}
        return self.non200 > 0 or any(errors.values()) or self.requests == 0


def find_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError(
            "wrk is not installed: run `make bench` (scripts/ensure-system-deps.sh bench installs it) "
            "or `apt-get install -y wrk`"
        )
    return wrk


def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].split(" Copyright")[0].strip()


def run_wrk(wrk: str, target: Target, key_ref: str, connections: int, duration: float, workdir: Path) -> WrkRun:
    signed = sign_generate_data_key(target, key_ref)  # fresh signature: X-Amz-Date stays well inside the 15 minutes
    script = workdir / "generate_data_key.lua"
    script.write_text(lua_script(signed))
    argv = [wrk, "-t1", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s", "--latency"]
    argv += ["-s", str(script), signed.url]
    busy0, server0, wrk0, t0 = (
        machine_busy_seconds(),
        tree_cpu_seconds(target.pid),
        children_cpu_seconds(),
        time.monotonic(),
    )
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=duration + 60)
    wall = time.monotonic() - t0
    busy = (machine_busy_seconds() - busy0) / wall
    server = (tree_cpu_seconds(target.pid) - server0) / wall
    wrk_cpu = (children_cpu_seconds() - wrk0) / wall
    cpu = {"server": server, "wrk": wrk_cpu, "other": max(0.0, busy - server - wrk_cpu), "machine": busy}
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        raise BenchError(f"wrk failed (status {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    raw = json.loads(lines[-1].removeprefix(MARKER))
    duration_s = raw["duration_us"] / 1e6
    return WrkRun(
        connections=connections,
        duration_s=duration_s,
        requests=int(raw["requests"]),
        rps=raw["requests"] / duration_s if duration_s else 0.0,
        non200=int(raw["non200"]),
        socket_errors={k: int(v) for k, v in raw["errors"].items()},
        latency_us=raw["latency_us"],
        first_error=raw["first_error"],
        statuses=[s for s in raw["statuses"].split("|") if s],
        cpu_cores=cpu,
    )


# --------------------------------------------------------------------------------------------- results


@dataclass
class Measurement:
    target: str
    workers: int | None
    connections: int
    key_ref: str  # "alias" or "id": how the request names the KMS key
    runs: list[WrkRun] = field(default_factory=list)
    warmup: WrkRun | None = None
    log_problems: list[str] = field(default_factory=list)
    busy_before: float | None = None

    @property
    def failed(self) -> bool:
        return not self.runs or any(r.failed for r in self.runs) or (self.warmup is not None and self.warmup.failed)

    @property
    def median_rps(self) -> float:
        return statistics.median(r.rps for r in self.runs)

    def median_latency_ms(self, percentile: str) -> float:
        return statistics.median(r.latency_us[percentile] for r in self.runs) / 1000

    def median_cpu(self, who: str) -> float:
        return statistics.median(r.cpu_cores[who] for r in self.runs)

    def server_cpu_us_per_request(self) -> float:
        """Server CPU time per answered request: steadier than requests/s when the machine is shared."""
        return statistics.median(r.cpu_cores["server"] / r.rps * 1e6 for r in self.runs if r.rps)

    def max_other_load(self) -> float:
        return max((r.cpu_cores["other"] for r in self.runs), default=0.0)

    def failure(self) -> str:
        bad = [r for r in ([self.warmup] if self.warmup else []) + self.runs if r.failed]
        if not bad:
            return "no runs"
        r = bad[0]
        errs = ", ".join(f"{k} {v}" for k, v in r.socket_errors.items() if v and k != "status")
        return (
            f"{r.non200} non-200 of {r.requests}"
            + (f"; socket errors: {errs}" if errs else "")
            + (f"; first: {r.first_error[:200]}" if r.first_error else "")
        )


def measure(
    wrk: str,
    target: Target,
    workers: int | None,
    config: tuple[int, str],
    key_id: str,
    args: argparse.Namespace,
    workdir: Path,
) -> Measurement:
    connections, kind = config
    m = Measurement(target=target.name, workers=workers, connections=connections, key_ref=kind)
    key_ref = ALIAS if kind == "alias" else key_id
    warmup = min(args.duration, args.warmup)
    if args.idle_wait > 0:
        m.busy_before = wait_for_quiet(args.idle_wait)
        if m.busy_before >= 0.25:
            print(f"  (machine still busy: {m.busy_before:.2f} cores in use by others)")
    label = f"{target.name}, {connections} connections" + (", KeyId = key ID" if kind == "id" else "")
    print(f"  {label}: warm-up {warmup:g}s", end="", flush=True)
    m.warmup = run_wrk(wrk, target, key_ref, connections, warmup, workdir)
    print(f" ({m.warmup.rps:,.0f}/s)", end="", flush=True)
    if m.warmup.failed:
        print(" FAILED")
        m.log_problems = target.log_problems()
        return m
    for _ in range(args.runs):
        run = run_wrk(wrk, target, key_ref, connections, args.duration, workdir)
        m.runs.append(run)
        print(f", {run.rps:,.0f}/s" + (" FAILED" if run.failed else ""), end="", flush=True)
        if run.failed:
            break
    print()
    m.log_problems = target.log_problems()
    return m


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment(wrk: str) -> dict[str, Any]:
    return {
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "wrk": wrk_version(wrk),
        "versions": {
            d: version(d) for d in ("keyhold", "uvicorn", "httptools", "uvloop", "cryptography", "botocore", "moto")
        },
    }


def fmt_rps(m: Measurement) -> str:
    rps = [r.rps for r in m.runs]
    return f"{m.median_rps:,.0f} ({min(rps):,.0f}-{max(rps):,.0f})"


def markdown_table(measurements: list[Measurement], args: argparse.Namespace) -> str:
    moto = next((m for m in measurements if m.workers is None and not m.failed), None)
    rows = [
        "| Server | Workers | Connections | GenerateDataKey/s, median (min-max) | p50 latency | p99 latency "
        "| vs moto | CPU cores: server / wrk / other | server CPU per request |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in measurements:
        workers = "-" if m.workers is None else str(m.workers)
        name = m.target + (" (KeyId = key ID, no alias)" if m.key_ref == "id" else "")
        if m.failed:
            rows.append(f"| {name} | {workers} | {m.connections} | FAILED: {m.failure()} | | | | | |")
            continue
        ratio = f"{m.median_rps / moto.median_rps:.1f}x" if moto else "n/a"
        rows.append(
            f"| {name} | {workers} | {m.connections} | {fmt_rps(m)} "
            f"| {m.median_latency_ms('p50'):.2f} ms | {m.median_latency_ms('p99'):.2f} ms | {ratio} "
            f"| {m.median_cpu('server'):.2f} / {m.median_cpu('wrk'):.2f} / {m.median_cpu('other'):.2f} "
            f"| {m.server_cpu_us_per_request():,.0f} µs |"
        )
    headline = next(
        (
            m
            for m in measurements
            if m.workers == 2 and m.connections == args.connections and m.key_ref == "alias" and not m.failed
        ),
        None,
    )
    goal = (
        f"Issue target >= {TARGET_RPS:,.0f} GenerateDataKey/s "
        f"(2 workers, {args.connections} connections, KeyId = alias)"
    )
    if headline is None:
        ran = "keyhold2" in args.targets
        verdict = f"{goal}: not measured" + (" (the run failed)." if ran else ".")
    elif headline.median_rps >= TARGET_RPS:
        verdict = f"{goal}: **met** ({headline.median_rps:,.0f}/s median)."
    else:
        share = headline.median_rps / TARGET_RPS
        verdict = f"{goal}: **NOT met** ({headline.median_rps:,.0f}/s median, {share:.0%} of it)."
    note = (
        f"{args.runs} runs of {args.duration:g}s each after a {min(args.duration, args.warmup):g}s warm-up; "
        "wrk, 1 thread, keep-alive."
    )
    noisy = max((m.max_other_load() for m in measurements), default=0.0)
    if noisy >= 0.25:
        note += (
            f" Other processes used up to {noisy:.2f} of the {os.cpu_count()} cores during some runs: "
            "those numbers are lower than a quiet machine would give."
        )
    return "\n".join([*rows, "", verdict, note])


# --------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per configuration (default 3)")
    parser.add_argument("--connections", type=int, default=64, help="concurrent keep-alive connections")
    parser.add_argument(
        "--sweep",
        default="16,128",
        help="extra connection counts for Keyhold, 2 workers; comma-separated, '' for none (default 16,128)",
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per configuration")
    parser.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help=(
            "comma-separated subset of: keyhold2, keyhold2-id (the same server, the request naming the key by "
            "its ID instead of its alias), keyhold1, moto (default: all)"
        ),
    )
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=30.0,
        help="before each configuration, wait up to this many seconds for the machine to be idle (0: don't)",
    )
    parser.add_argument(
        "--key-policy",
        choices=("default", "conditions"),
        default="default",
        help="Keyhold's benchmark key: AWS's default policy, or one whose use statement has conditions",
    )
    parser.add_argument(
        "--audit",
        choices=("on", "off"),
        default="on",
        help="Keyhold's audit trail (keyhold serve --audit): off measures what auditing costs",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results to this file")
    args = parser.parse_args(argv)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    args.sweep = [int(c) for c in args.sweep.split(",") if c.strip()]
    if args.runs < 1 or args.duration <= 0 or args.connections < 1:
        parser.error("--runs, --duration and --connections must be positive")
    return args


Plan = tuple[str, Callable[[], contextlib.AbstractContextManager[Target]], int | None, list[tuple[int, str]]]


def raise_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def bench_target(
    wrk: str,
    server: contextlib.AbstractContextManager[Target],
    workers: int | None,
    runs: list[tuple[int, str]],
    args: argparse.Namespace,
    workdir: Path,
) -> list[Measurement]:
    """Start the server, create the key and alias, check one signed request, then measure each (connections,
    "alias" | "id") pair."""
    with server as target:
        print(f"{target.name} at {target.url}")
        key_id = create_key(target, args.key_policy)
        for kind in sorted({kind for _, kind in runs}):
            answer = check_signed_request(sign_generate_data_key(target, ALIAS if kind == "alias" else key_id))
            print(f"  key {key_id}; signed GenerateDataKey (KeyId = {kind}) answered by {answer['KeyId']}")
        return [measure(wrk, target, workers, config, key_id, args, workdir) for config in runs]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_on_sigterm)
    try:
        wrk = find_wrk()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    env = environment(wrk)
    print(f"{env['cpu_model']}, {env['cpus']} CPUs; Python {env['python']}; {env['wrk']}")
    measurements: list[Measurement] = []
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="keyhold-bench-") as tmp:
        workdir = Path(tmp)
        plan: list[Plan] = []
        main_run = (args.connections, "alias")
        keyhold2: list[tuple[int, str]] = []
        if "keyhold2" in args.targets:
            keyhold2 += [main_run, *[(c, "alias") for c in args.sweep if c != args.connections]]
        if "keyhold2-id" in args.targets:
            keyhold2.append((args.connections, "id"))
        if keyhold2:
            plan.append(("keyhold2", lambda: keyhold_server(2, workdir, ("--audit", args.audit)), 2, keyhold2))
        if "keyhold1" in args.targets:
            plan.append(("keyhold1", lambda: keyhold_server(1, workdir, ("--audit", args.audit)), 1, [main_run]))
        if "moto" in args.targets:
            plan.append(("moto", lambda: moto_server(workdir), None, [main_run]))
        try:
            for name, server, workers, runs in plan:
                try:
                    measurements += bench_target(wrk, server(), workers, runs, args, workdir)
                except BenchError as exc:
                    errors.append(f"{name}: {exc}")
                    print(f"error: {name}: {exc}", file=sys.stderr)
        except KeyboardInterrupt:
            print("\ninterrupted; servers stopped", file=sys.stderr)
            return 130
    # The headline row first, then the sweep, then the others, each group in connection order.
    order = {2: 0, 1: 1, None: 2}
    measurements.sort(key=lambda m: (order[m.workers], m.key_ref, m.connections != args.connections, m.connections))
    table = markdown_table(measurements, args)
    print()
    print(table)
    for m in measurements:
        if m.log_problems:
            print(f"\n{m.target} log has {len(m.log_problems)} suspicious lines, e.g.:", file=sys.stderr)
            for line in m.log_problems[:5]:
                print(f"  {line}", file=sys.stderr)
    result = {
        "environment": env,
        "settings": {
            "duration_s": args.duration,
            "runs": args.runs,
            "warmup_s": min(args.duration, args.warmup),
            "connections": args.connections,
            "sweep": args.sweep,
            "wrk_threads": 1,
            "idle_wait_s": args.idle_wait,
            "key_policy": args.key_policy,
            "audit": args.audit,
            "request": {
                "KeySpec": "AES_256",
                "EncryptionContext": ENCRYPTION_CONTEXT,
                "KeyId": ALIAS,
                "KeyId_keyhold2-id": "<the key's ID>",
            },
        },
        "measurements": [
            {**asdict(m), "failed": m.failed, "median_rps": None if m.failed else m.median_rps} for m in measurements
        ],
        "errors": errors,
        "table": table,
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    paths = [RESULTS_DIR / f"kms-{stamp}.json", *([args.json] if args.json else [])]
    for path in paths:
        path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nraw results: {', '.join(str(p) for p in paths)}")
    return 1 if errors or any(m.failed for m in measurements) else 0


if __name__ == "__main__":
    sys.exit(main())
