"""Real writer processes for tests: files that are still being written, as recorders do it.

Each writer is a separate Python process (this file run as a script), so camup-sync's
stability rules and its open-file probe see a real process holding a real file, never a
mock of os.stat. Kinds:

    append    open, append a chunk every `every` s, keep the file open until stopped
              (or after `chunks` chunks); then close
    idle      write the whole file, set its mtime far in the past with os.utime, then
              hold it open for writing, idle, until stopped
    prealloc  pre-allocate the full size (posix_fallocate, else truncate), then fill it
              in chunk by chunk while open; close when full (stop fills the rest at once)
    rename    write under PATH + ".part" like `append`, then close and rename to PATH

Protocol on stdout, one line each: "ready PID" once the file exists and is open (the
first chunk written), then "done SIZE" after the file is closed (and renamed), just
before a clean exit 0. A writer stops on SIGTERM or when the `--stop` file appears,
and gives up by itself after `--max-seconds` or when its parent dies, so a crashed test
never leaves one behind. From a test:

    with Writer("append", path).start() as w:   # waits for "ready"
        ...                                     # the file is being written
        w.finish()                              # stop, wait for "done", exit 0
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

HERE = os.path.abspath(__file__)
PAST = 3600.0 * 24  # how far back `idle` sets the mtime


class WriterError(AssertionError):
    """A writer did not start, or did not finish cleanly, in time."""


class Writer:
    """One writer process and its stdout protocol; always terminated by `close()`."""

    def __init__(self, kind: str, path: Path | str, chunk: int = 4096, every: float = 0.2,
                 chunks: int = 0, size: int = 64 * 1024, max_seconds: float = 60.0,
                 seed: int = 1) -> None:
        self.kind, self.path = kind, Path(path)
        self.args = [kind, str(self.path), "--chunk", str(chunk), "--every", str(every),
                     "--chunks", str(chunks), "--size", str(size), "--max-seconds", str(max_seconds),
                     "--seed", str(seed), "--stop", str(self.stop_file)]
        self.proc: Optional[subprocess.Popen] = None
        self.lines: queue.Queue[str] = queue.Queue()
        self.pid = 0
        self.final_size: Optional[int] = None

    @property
    def stop_file(self) -> Path:
        return self.path.with_name(f".{self.path.name}.stop")

    def start(self, timeout: float = 15.0) -> Writer:
        self.proc = subprocess.Popen([sys.executable, "-u", HERE, *self.args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._pump, daemon=True).start()
        try:
            line = self._expect("ready", timeout)
        except BaseException:
            self.close()
            raise
        self.pid = int(line.split()[1])
        return self

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put("")  # EOF

    def _expect(self, word: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise WriterError(f"{self.kind} writer: no '{word}' within {timeout} s") from None
            if line.startswith(word):
                return line
            if line == "":
                err = self.proc.stderr.read() if self.proc and self.proc.stderr else ""
                raise WriterError(f"{self.kind} writer exited before '{word}': {err}")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def finish(self, timeout: float = 15.0) -> int:
        """Ask the writer to stop, wait until it has closed its file; the final size."""
        self.stop_file.touch()
        return self.wait_done(timeout)

    def wait_done(self, timeout: float = 15.0) -> int:
        """Wait for a writer that ends by itself (`chunks`, `prealloc`); the final size."""
        if self.final_size is None:
            line = self._expect("done", timeout)
            self.final_size = int(line.split()[1])
            assert self.proc is not None
            code = self.proc.wait(timeout)
            if code != 0:
                raise WriterError(f"{self.kind} writer exited with {code}")
        return self.final_size

    def close(self) -> None:
        """Terminate the writer if it still runs (by its own pid); never raises."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        with contextlib.suppress(OSError):
            self.stop_file.unlink()

    def __enter__(self) -> Writer:
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class Writers:
    """Every writer a test starts, all closed at teardown (use as a fixture's value)."""

    def __init__(self) -> None:
        self.started: list[Writer] = []

    def __call__(self, kind: str, path: Path | str, **kw: object) -> Writer:
        w = Writer(kind, path, **kw)  # type: ignore[arg-type]
        self.started.append(w)
        return w.start()

    def close(self) -> None:
        for w in self.started:
            w.close()


def hold_open(path: Path | str, mode: str = "ab") -> subprocess.Popen:
    """A process that opens `path` in `mode` (e.g. "rb" for a reader) and idles; ready once it prints."""
    code = ("import sys, time, os\n"
            "f = open(sys.argv[1], sys.argv[2])\n"
            "print('ready', os.getpid(), flush=True)\n"
            "ppid = os.getppid()\n"
            "while os.getppid() == ppid:\n"
            "    time.sleep(0.2)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path), mode], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        proc.kill()
        proc.wait()
        raise WriterError(f"holder of {path} did not start")
    return proc


# ---------------------------------------------------------------- the writer process


class _Stop:
    def __init__(self, stop_file: str, max_seconds: float) -> None:
        self.stop_file, self.flag = stop_file, False
        self.deadline = time.monotonic() + max_seconds
        self.parent = os.getppid()
        signal.signal(signal.SIGTERM, self._signal)

    def _signal(self, signum: int, frame: object) -> None:
        self.flag = True

    def requested(self) -> bool:
        if self.flag or os.path.exists(self.stop_file):
            self.flag = True
        elif time.monotonic() > self.deadline or os.getppid() != self.parent:
            self.flag = True  # orphaned or forgotten: finish rather than linger
        return self.flag

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True as soon as a stop is requested."""
        end = time.monotonic() + seconds
        while not self.requested():
            left = end - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(0.05, left))
        return True


def _chunk(seed: int, index: int, size: int) -> bytes:
    """Deterministic, distinct bytes per chunk (not all zeros, so a hole shows)."""
    unit = f"[{seed}:{index}]".encode()
    return (unit * (size // len(unit) + 1))[:size]


def _ready() -> None:
    print("ready", os.getpid(), flush=True)


def _append(f, a: argparse.Namespace, stop: _Stop) -> None:
    i = 0
    while True:
        f.write(_chunk(a.seed, i, a.chunk))
        f.flush()
        i += 1
        if i == 1:
            _ready()
        if (a.chunks and i >= a.chunks) or stop.wait(a.every):
            return


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=("append", "idle", "prealloc", "rename"))
    p.add_argument("path")
    p.add_argument("--chunk", type=int, default=4096)
    p.add_argument("--every", type=float, default=0.2)
    p.add_argument("--chunks", type=int, default=0)  # 0: until stopped
    p.add_argument("--size", type=int, default=64 * 1024)
    p.add_argument("--max-seconds", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--stop", required=True)
    a = p.parse_args(argv)
    stop = _Stop(a.stop, a.max_seconds)
    final = a.path
    if a.kind == "append":
        with open(a.path, "ab") as f:
            _append(f, a, stop)
    elif a.kind == "rename":
        part = a.path + ".part"
        with open(part, "wb") as f:
            _append(f, a, stop)
        os.replace(part, a.path)
    elif a.kind == "idle":
        with open(a.path, "wb") as f:
            f.write(_chunk(a.seed, 0, a.size))
            f.flush()
            os.fsync(f.fileno())
            past = time.time() - PAST
            os.utime(a.path, (past, past))
            _ready()
            while not stop.wait(3600):
                pass
    elif a.kind == "prealloc":
        with open(a.path, "wb") as f:
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(f.fileno(), 0, a.size)
            else:
                f.truncate(a.size)
            _ready()
            offset, i = 0, 0
            while offset < a.size:
                n = min(a.chunk, a.size - offset)
                f.seek(offset)
                f.write(_chunk(a.seed, i, n))
                f.flush()
                offset, i = offset + n, i + 1
                if not stop.requested():
                    stop.wait(a.every)
    print("done", os.path.getsize(final), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
