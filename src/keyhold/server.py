"""`keyhold serve`: bind the ports, start the worker processes, run background jobs, stop cleanly on a signal.

The parent process does the first-start work (data dir, root key, schema, credentials, TLS), binds the HTTP and
HTTPS sockets (so port 0 is resolved once and shared), writes endpoints.json, and runs the background jobs.
Each worker process serves both sockets with uvicorn (httptools, uvloop) on one event loop.
"""

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import socket
import sys
import threading
import time
from collections.abc import Generator
from types import FrameType

import uvicorn

from keyhold import app, datadir
from keyhold.config import Settings
from keyhold.errors import ServiceError
from keyhold.http_protocol import OneSendHttpToolsProtocol
from keyhold.memory import tune_malloc
from keyhold.protocols.asgi import KeyholdApp

log = logging.getLogger("keyhold")


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handling: the worker handles signals for both listeners."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url(scheme: str, host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"{scheme}://{shown}:{port}"


def _uvicorn_config(asgi: KeyholdApp, settings: Settings, tls: bool) -> uvicorn.Config:
    options: dict[str, object] = {}
    if tls:
        options = {
            "ssl_certfile": str(settings.data_dir / "tls" / "server.pem"),
            "ssl_keyfile": str(settings.data_dir / "tls" / "server.key"),
        }
    return uvicorn.Config(
        asgi,
        http=OneSendHttpToolsProtocol,
        loop="uvloop",
        lifespan="off",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        log_level="warning",
        timeout_keep_alive=30,
        **options,  # type: ignore[arg-type]
    )


def _worker(settings: Settings, sockets: list[socket.socket]) -> None:
    """One worker process: both listeners on one uvloop event loop."""
    _configure_logging()
    tune_malloc()
    runtime = app.open_runtime(settings)
    asgi = app.build_app(runtime)
    servers = [_Server(_uvicorn_config(asgi, settings, tls=index == 1)) for index in range(len(sockets))]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _stop, servers)
        await asyncio.gather(*(server.serve([sock]) for server, sock in zip(servers, sockets, strict=True)))

    import uvloop

    uvloop.run(main())
    asgi.close()
    runtime.close()


def _stop(servers: list[_Server]) -> None:
    for server in servers:
        server.should_exit = True


SWEEP_INTERVAL = 6 * 3600.0  # seconds between sweeps of blobs no object refers to (and one soon after start)


class _Jobs(threading.Thread):
    """Background jobs in the parent: scheduled deletions and automatic rotations, every job_interval seconds; and
    every few hours, the removal of blobs that a crash left without their metadata row."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="keyhold-jobs", daemon=True)
        self._settings = settings
        self._stopping = threading.Event()

    def run(self) -> None:
        runtime = app.open_runtime(self._settings, node_suffix="-jobs")
        next_sweep = 0.0
        try:
            while not self._stopping.wait(self._settings.job_interval):
                try:
                    deleted, rotated = runtime.kms.run_due_jobs()
                    if deleted or rotated:
                        log.info("background jobs: %d keys deleted, %d keys rotated", deleted, rotated)
                    if time.monotonic() >= next_sweep:
                        next_sweep = time.monotonic() + SWEEP_INTERVAL
                        runtime.objects.sweep_unreferenced_blobs()
                except Exception:
                    log.exception("background jobs failed; will retry")
        finally:
            runtime.close()

    def stop(self) -> None:
        self._stopping.set()


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _banner(settings: Settings, boot: app.Bootstrap, endpoints: dict[str, str]) -> str:
    data = settings.data_dir
    return f"""Keyhold is running.
  HTTP endpoint:   {endpoints["http"]}
  HTTPS endpoint:  {endpoints["https"]}   (CA certificate: {data / "tls" / "ca.pem"})
  Region:          {settings.region}        Account: 000000000000
  Access key id:   {boot.access_key_id}
  Secret key:      {boot.secret_access_key}
  Credentials:     {data / "credentials"} (profile "default")
  Data directory:  {data}
  Workers:         {settings.workers}

Try it:
  export AWS_SHARED_CREDENTIALS_FILE={data / "credentials"} AWS_CONFIG_FILE={data / "config"}
  aws --endpoint-url {endpoints["http"]} kms create-key
"""


def serve(settings: Settings) -> int:
    _configure_logging()
    try:
        boot = app.bootstrap(settings)
        sockets = [_bind(settings.host, settings.http_port), _bind(settings.host, settings.https_port)]
    except (datadir.StartupError, ServiceError, OSError) as exc:
        message = exc.message if isinstance(exc, ServiceError) else str(exc)
        print(f"keyhold: cannot start: {message}", file=sys.stderr)
        return 2
    endpoints = {
        "http": _url("http", settings.host, sockets[0]),
        "https": _url("https", settings.host, sockets[1]),
    }
    datadir.write_endpoints(settings.data_dir, endpoints)
    jobs = _Jobs(settings)
    jobs.start()
    print(_banner(settings, boot, endpoints), flush=True)
    if not settings.audit:
        log.warning("the audit trail is off (--audit off): no request will be recorded")
    if not settings.object_encryption:
        log.warning("object encryption is off (--object-encryption off): objects that ask for none are stored as sent")
    try:
        if settings.workers == 1:
            _worker(settings, sockets)
        else:
            _supervise(settings, sockets)
    finally:
        jobs.stop()
        jobs.join(timeout=30)  # lets the job thread close its audit stream (final digest) before exit
        for sock in sockets:
            sock.close()
    print("Keyhold stopped.", flush=True)
    return 0


def _supervise(settings: Settings, sockets: list[socket.socket]) -> None:
    """Run ``settings.workers`` worker processes; restart any that dies; stop them all on SIGTERM/SIGINT."""
    context = multiprocessing.get_context("spawn")
    stopping = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_worker, args=(settings, sockets), name="keyhold-worker")
        process.start()
        return process

    workers = [start() for _ in range(settings.workers)]
    started = [time.monotonic()] * len(workers)
    delay = 0.0  # grows while workers die young (a database that is down), so restarts do not spin
    next_restart = 0.0
    while not stopping.wait(0.5):
        now = time.monotonic()
        dead = [index for index, process in enumerate(workers) if not process.is_alive()]
        if not dead or now < next_restart:
            continue
        died_young = any(now - started[index] < 10 for index in dead)
        delay = min(30.0, max(1.0, delay * 2)) if died_young else 0.0
        next_restart = now + delay
        for index in dead:
            log.warning("worker %s exited with %s; starting another", workers[index].pid, workers[index].exitcode)
            workers[index] = start()
            started[index] = now
    for process in workers:
        if process.is_alive() and process.pid is not None:
            process.terminate()
    for process in workers:
        process.join(timeout=15)
        if process.is_alive():
            process.kill()
