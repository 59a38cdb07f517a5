"""The S3 implementations the integration suite runs against, each one a throwaway server
on loopback: SeaweedFS (scripts/seaweed.py) and moto's server, an independent emulation of
AWS S3. Two stores, so a difference between them is found by the tests, not by a user.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from seaweed import clean_aws_env, free_ports, start_retrying, wait_until_ready

# moto's ThreadedMotoServer in a child process: its own clean environment (no inherited
# AWS_* variable, dummy keys, no metadata service), its own interpreter (the 2 cores are
# not shared with the test's GIL), and a kill at the end that cannot leave a thread behind.
_MOTO_CHILD = """
import os, sys, threading
from moto.server import ThreadedMotoServer
def died(args):  # a port already taken: say so and exit, not wait forever for "ready"
    print(args.exc_value, flush=True)
    os._exit(98)
threading.excepthook = died
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
print("ready", flush=True)
threading.Event().wait()
"""


@dataclass
class MotoServer:
    """moto's S3 server on 127.0.0.1 at a free port, for one test session."""

    data_dir: Path
    process: subprocess.Popen | None = None
    s3_port: int = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self) -> MotoServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        start_retrying(lambda: self._launch(free_ports(1)[0]), self._wait_ready, self.stop)
        return self

    def _launch(self, port: int) -> None:
        self.s3_port = port
        log = open(self.data_dir / "moto.log", "wb")  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen([sys.executable, "-c", _MOTO_CHILD, str(port)],
                                        stdout=log, stderr=subprocess.STDOUT, env=clean_aws_env(),
                                        cwd=self.data_dir)
        log.close()

    def _wait_ready(self) -> None:
        wait_until_ready(self.process, self.s3_port, self.data_dir / "moto.log", self._probe,
                         "moto's server", "answer")

    def _probe(self) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{self.endpoint}/", timeout=5) as resp:  # ListBuckets
            resp.read()

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=15)
