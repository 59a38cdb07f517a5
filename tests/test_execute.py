"""The Executor with an in-memory Store and real temporary files."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
from pathlib import Path
from typing import IO, Callable, Optional

import pytest

from reconciler.checksums import FileChanged
from reconciler.events import NO_EVENTS, TransferEvents
from reconciler.execute import (
    Executor,
    PassAborted,
    RetryPolicy,
)
from reconciler.keys import keep_both_key
from reconciler.localfs import FileLocked, open_for_upload
from reconciler.models import Action, ActionKind, LocalFile, Reason
from reconciler.results import Outcome, StoredObject, UploadResult
from reconciler.s3errors import ErrorKind, RemoteError

CONTENT = b"camera bytes " * 100


def digest(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class FakeStore:
    """An in-memory bucket with conditional writes; `script[key]` holds one step per call:
    an exception to raise, or a hook(fh, path) to run before the bytes are read."""

    def __init__(self, keep_checksums: bool = True):
        self.objects: dict[str, tuple[bytes, Optional[str]]] = {}
        self.script: dict[str, list] = {}
        self.calls: list[tuple[str, bool]] = []
        self.keep_checksums = keep_checksums
        self.lock = threading.Lock()

    def put(self, key: str, data: bytes) -> None:
        self.objects[key] = (data, digest(data) if self.keep_checksums else None)

    def upload(self, fh: IO[bytes], key: str, size: int, overwrite: bool,
               events: TransferEvents = NO_EVENTS, resume_id: Optional[str] = None) -> Optional[str]:
        with self.lock:
            self.calls.append((key, overwrite))
            steps = self.script.get(key) or []
            step = steps.pop(0) if steps else None
        if isinstance(step, BaseException):
            raise step
        if step is not None:
            step(fh, events.sent, events.multipart)
        if not overwrite and key in self.objects:
            raise RemoteError(ErrorKind.EXISTS, "an object already exists at this key", "412")
        data = fh.read(size)
        if len(data) < size:
            raise FileChanged()
        events.check_unchanged()  # as the real store does: before the object is published
        events.sent(len(data))
        self.put(key, data)
        return digest(data)

    def head(self, key: str) -> Optional[StoredObject]:
        obj = self.objects.get(key)
        return None if obj is None else StoredObject(len(obj[0]), obj[1], hashlib.md5(obj[0]).hexdigest())

    def same_content(self, fh: IO[bytes], size: int, found: StoredObject) -> bool:
        """The checksum where kept, else the MD5 ETag (single-part objects only here)."""
        fh.seek(0)
        data = fh.read(size)
        if size != found.size:
            return False
        if found.checksum:
            return digest(data) == found.checksum
        return hashlib.md5(data).hexdigest() == found.etag


def real_file(tmp_path: Path, rel: str = "a.mp4", data: bytes = CONTENT) -> LocalFile:
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    st = os.stat(path)
    return LocalFile(str(tmp_path), rel, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino)


def upload(f: LocalFile, key: str = "cam/a.mp4", reason: Reason = Reason.NEW,
           overwrite: bool = False) -> Action:
    return Action(ActionKind.UPLOAD, reason, f, key, overwrite=overwrite)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def read_opener(file: LocalFile) -> IO[bytes]:
    return open_for_upload(file)  # the real one; the Executor closes the handle


def executor(store: FakeStore, **kw) -> Executor:
    kw.setdefault("retry", RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=60.0))
    kw.setdefault("sleep", Sleeps())
    kw.setdefault("rand", lambda: 1.0)
    kw.setdefault("opener", read_opener)
    return Executor(store, **kw)


def retryable(n: int = 1) -> list:
    return [RemoteError(ErrorKind.RETRYABLE, f"S3 answered 503: SlowDown #{i}", "503") for i in range(n)]


# ---- success and retries ----------------------------------------------------------------------------
def test_success(tmp_path: Path) -> None:
    store, sent = FakeStore(), []
    ex = executor(store, progress=sent.append)
    r = ex.upload_one(upload(real_file(tmp_path)))
    assert (r.ok, r.key, r.checksum, r.attempts, r.error) == (True, "cam/a.mp4", digest(CONTENT), 1, None)
    assert r.outcome is Outcome.UPLOADED
    assert store.objects["cam/a.mp4"][0] == CONTENT
    assert sum(sent) == len(CONTENT)
    assert ex.sleep == []


def test_retryable_errors_are_retried_with_growing_delays(tmp_path: Path) -> None:
    store = FakeStore()
    store.script["cam/a.mp4"] = retryable(3)
    ex = executor(store)
    r = ex.upload_one(upload(real_file(tmp_path)))
    assert (r.ok, r.attempts) == (True, 4)
    assert ex.sleep == [1.0, 2.0, 4.0]
    assert store.objects["cam/a.mp4"][0] == CONTENT, "every attempt starts from byte 0"


@pytest.mark.parametrize(
    ("rand", "expected"),
    [(1.0, [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]),  # full ceiling, capped at max_delay
     (0.0, [0.5, 1.0, 2.0, 2.5, 2.5, 2.5]),  # equal jitter: never below half the ceiling
     (0.5, [0.75, 1.5, 3.0, 3.75, 3.75, 3.75])],
)
def test_retries_end_after_max_attempts_with_capped_jittered_delays(tmp_path, rand, expected) -> None:
    store = FakeStore()
    store.script["cam/a.mp4"] = retryable(100)
    ex = executor(store, retry=RetryPolicy(max_attempts=7, base_delay=1.0, max_delay=5.0),
                  rand=lambda: rand)
    r = ex.upload_one(upload(real_file(tmp_path)))
    assert (r.ok, r.attempts) == (False, 7)
    assert r.error == "S3 answered 503: SlowDown #6"
    assert ex.sleep == pytest.approx(expected)
    assert len(store.calls) == 7
    assert "cam/a.mp4" not in store.objects


def test_key_error_fails_without_retry(tmp_path: Path) -> None:
    store = FakeStore()
    denied = RemoteError(ErrorKind.THIS_FILE, "access denied (AccessDenied)", "AccessDenied")
    store.script["cam/a.mp4"] = [denied]
    ex = executor(store)
    r = ex.upload_one(upload(real_file(tmp_path)))
    assert (r.ok, r.attempts, r.error) == (False, 1, "access denied (AccessDenied)")
    assert ex.sleep == [] and len(store.calls) == 1


def test_read_error_during_upload_fails_without_retry(tmp_path: Path) -> None:
    store = FakeStore()
    store.script["cam/a.mp4"] = [OSError(5, "Input/output error")]
    ex = executor(store)
    r = ex.upload_one(upload(real_file(tmp_path)))
    assert (r.ok, r.attempts) == (False, 1)
    assert r.error == "cannot read the file: Input/output error"
    assert ex.sleep == []


def test_fatal_raises_pass_aborted(tmp_path: Path) -> None:
    store = FakeStore()
    store.script["cam/a.mp4"] = [RemoteError(ErrorKind.FATAL, "bucket cams does not exist", "NoSuchBucket")]
    with pytest.raises(PassAborted, match="does not exist"):
        executor(store).upload_one(upload(real_file(tmp_path)))


def test_fatal_ends_the_run_and_starts_nothing_else(tmp_path: Path) -> None:
    store = FakeStore()
    store.script["k1"] = [RemoteError(ErrorKind.FATAL, "bucket cams does not exist", "NoSuchBucket")]
    files = [real_file(tmp_path, f"{i}.mp4") for i in range(1, 4)]
    ex = executor(store, parallel_files=1)
    recorded: list[UploadResult] = []
    fatal = ex.run([upload(f, f"k{i}") for i, f in enumerate(files, 1)], recorded.append)
    assert fatal == "bucket cams does not exist"
    assert [k for k, _ in store.calls] == ["k1"]
    assert recorded == []
    assert not ex.stop.is_set(), "a fatal pass must not stop the program (continuous mode goes on)"


def test_fatal_stops_uploads_in_flight(tmp_path: Path) -> None:
    store = FakeStore()
    started = threading.Event()

    def slow(fh, progress, on_multipart) -> None:  # a long multipart upload, part by part
        started.set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            progress(0)
            time.sleep(0.002)

    def fatal_once_slow_runs(fh, progress, on_multipart) -> None:
        started.wait(10)
        raise RemoteError(ErrorKind.FATAL, "the access key is not valid", "InvalidAccessKeyId")

    store.script = {"slow": [slow], "bad": [fatal_once_slow_runs]}
    a, b, c = (real_file(tmp_path, n) for n in ("a.mp4", "b.mp4", "c.mp4"))
    ex = executor(store, parallel_files=2)
    recorded: list[UploadResult] = []
    t0 = time.monotonic()
    fatal = ex.run([upload(a, "slow"), upload(b, "bad"), upload(c, "never")], recorded.append)
    assert time.monotonic() - t0 < 5, "the slow upload was abandoned, not waited out"
    assert fatal == "the access key is not valid"
    assert [(r.action.key, r.outcome) for r in recorded] == [("slow", Outcome.STOPPED)]
    assert "never" not in [k for k, _ in store.calls]
    assert not ex.stop.is_set()


def test_an_upload_that_raises_fails_that_file_and_the_others_go_on(tmp_path: Path) -> None:
    store = FakeStore()
    store.script["k1"] = [ValueError("a bug")]
    files = [real_file(tmp_path, f"{i}.mp4") for i in range(3)]
    recorded: list[UploadResult] = []
    fatal = executor(store, parallel_files=2).run([upload(f, f"k{i}") for i, f in enumerate(files)],
                                                  recorded.append)
    assert fatal is None
    outcomes = {r.action.key: (r.outcome, r.error) for r in recorded}
    assert outcomes == {"k0": (Outcome.UPLOADED, None), "k2": (Outcome.UPLOADED, None),
                        "k1": (Outcome.FAILED, "unexpected error: ValueError('a bug')")}


def test_a_base_exception_in_an_upload_is_raised_again_on_the_calling_thread(tmp_path: Path) -> None:
    store = FakeStore()
    store.script["k0"] = [SystemExit(3)]
    with pytest.raises(SystemExit) as raised:
        executor(store).run([upload(real_file(tmp_path), "k0")], lambda r: None)
    assert raised.value.code == 3


def test_a_failing_record_stops_the_uploads_in_flight(tmp_path: Path) -> None:
    """The manifest cannot be written (disk full): run() raises at once, and the upload in
    flight is told to stop at its next block instead of being waited out."""
    store = FakeStore()
    started, stopped = threading.Event(), threading.Event()

    def slow(fh, progress, on_multipart) -> None:
        started.set()
        deadline = time.monotonic() + 10
        try:
            while time.monotonic() < deadline:
                progress(0)
                time.sleep(0.01)
        except BaseException:
            stopped.set()
            raise

    def disk_full(result: UploadResult) -> None:
        assert started.wait(5)  # the slow upload is in flight
        raise OSError(28, "No space left on device")

    store.script = {"slow": [slow]}
    a, b = real_file(tmp_path, "a.mp4"), real_file(tmp_path, "b.mp4")
    ex = executor(store, parallel_files=2)
    t0 = time.monotonic()
    with pytest.raises(OSError, match="No space left"):
        ex.run([upload(a, "slow"), upload(b, "quick")], disk_full)
    assert time.monotonic() - t0 < 5, "the slow upload was stopped, not waited out"
    assert stopped.is_set()
    assert not ex.stop.is_set(), "the program's own stop is not touched"


def test_run_uploads_in_order_and_records_each(tmp_path: Path) -> None:
    store = FakeStore()
    files = [real_file(tmp_path, f"{i}.mp4", data=bytes([i]) * 10) for i in range(5)]
    recorded: list[UploadResult] = []
    fatal = executor(store, parallel_files=1).run([upload(f, f"k{i}") for i, f in enumerate(files)],
                                                  recorded.append)
    assert fatal is None
    assert [k for k, _ in store.calls] == [f"k{i}" for i in range(5)]
    assert [(r.key, r.ok) for r in recorded] == [(f"k{i}", True) for i in range(5)]


def test_run_in_parallel_records_everything(tmp_path: Path) -> None:
    store = FakeStore()
    files = [real_file(tmp_path, f"{i}.mp4", data=bytes([i]) * 10) for i in range(12)]
    recorded: list[UploadResult] = []
    executor(store, parallel_files=4).run([upload(f, f"k{i}") for i, f in enumerate(files)],
                                          recorded.append)
    assert sorted(r.key for r in recorded) == sorted(f"k{i}" for i in range(12))
    assert all(r.ok for r in recorded)


class InFlight:
    """A store hook that holds each upload until released, counting how many are held."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: dict[str, int] = {"small": 0, "big": 0}
        self.most: dict[str, int] = {"small": 0, "big": 0}
        self.started: list[str] = []
        self.release = threading.Event()
        self.held: dict[str, int] = {}  # how many were held when released
        self.first: list[str] = []  # which had started by then

    def let_go(self) -> None:
        with self.lock:
            self.held, self.first = dict(self.now), list(self.started)
        self.release.set()

    def hook(self, name: str, kind: str) -> Callable:
        def held(fh, progress, on_multipart) -> None:
            with self.lock:
                self.started.append(name)
                self.now[kind] += 1
                self.most[kind] = max(self.most[kind], self.now[kind])
            self.release.wait(10)
            with self.lock:
                self.now[kind] -= 1
        return held


def run_released_after(ex: Executor, actions: list[Action], inflight: InFlight,
                       seconds: float = 0.3) -> list[UploadResult]:
    """Run the executor; let every held upload go after `seconds` (all that can start, have)."""
    threading.Timer(seconds, inflight.let_go).start()
    recorded: list[UploadResult] = []
    assert ex.run(actions, recorded.append) is None
    return recorded


def sized_uploads(tmp_path: Path, store: FakeStore, inflight: InFlight, sizes: list[int],
                  small_below: int) -> list[Action]:
    actions = []
    for i, size in enumerate(sizes):
        key = f"k{i}"
        store.script[key] = [inflight.hook(key, "small" if size < small_below else "big")]
        actions.append(upload(real_file(tmp_path, f"{i}.mp4", data=bytes([i]) * size), key))
    return actions


def test_small_files_have_slots_of_their_own_beside_parallel_files(tmp_path: Path) -> None:
    store, inflight = FakeStore(), InFlight()
    actions = sized_uploads(tmp_path, store, inflight, [10] * 12, small_below=100)
    ex = executor(store, parallel_files=2, parallel_small=5, small_below=100)
    recorded = run_released_after(ex, actions, inflight)
    assert inflight.held == {"small": 5, "big": 0}, "5 small files at once, not parallel_files' 2"
    assert inflight.most == inflight.held, "and never more"
    assert sorted(r.key for r in recorded) == sorted(f"k{i}" for i in range(12))
    assert all(r.ok for r in recorded)


def test_bigger_files_stay_within_parallel_files_while_small_ones_go_beside_them(tmp_path: Path) -> None:
    store, inflight = FakeStore(), InFlight()
    actions = sized_uploads(tmp_path, store, inflight, [500, 10, 500, 10, 500, 10], small_below=100)
    ex = executor(store, parallel_files=2, parallel_small=3, small_below=100)
    recorded = run_released_after(ex, actions, inflight)
    # k0-k3 go at once; the third big file (k4) waits for a big slot, holding back k5 after it.
    assert inflight.held == {"small": 2, "big": 2}, inflight.held
    assert sorted(inflight.first) == ["k0", "k1", "k2", "k3"]
    assert inflight.most["big"] == 2, "never a third big file"
    assert sorted(inflight.started) == [f"k{i}" for i in range(6)]
    assert len(recorded) == 6 and all(r.ok for r in recorded)


def test_no_small_slots_means_every_file_takes_a_parallel_files_slot(tmp_path: Path) -> None:
    store, inflight = FakeStore(), InFlight()
    actions = sized_uploads(tmp_path, store, inflight, [10] * 6, small_below=100)
    ex = executor(store, parallel_files=2, parallel_small=0, small_below=100)
    run_released_after(ex, actions, inflight)
    assert inflight.held == {"small": 2, "big": 0}
    assert inflight.most == inflight.held


def test_on_multipart_is_told_the_key(tmp_path: Path) -> None:
    store, seen = FakeStore(), []
    store.script["cam/a.mp4"] = [lambda fh, progress, on_mp: (on_mp("uid-1", True), on_mp("uid-1", False))]
    ex = executor(store, on_multipart=lambda *args: seen.append(args))
    assert ex.upload_one(upload(real_file(tmp_path))).ok
    assert seen == [("uid-1", "cam/a.mp4", True), ("uid-1", "cam/a.mp4", False)]


# ---- the key already exists ------------------------------------------------------------------------
OTHER_SAME_SIZE = bytes(reversed(CONTENT))


@pytest.mark.parametrize(
    ("name", "existing", "checksums", "on_conflict", "outcome", "final_key"),
    [
        ("identical, checksum matches", CONTENT, True, "keep_both", "adopted", "cam/a.mp4"),
        ("identical, store keeps no checksum", CONTENT, False, "keep_both", "adopted", "cam/a.mp4"),
        ("same size, other bytes", OTHER_SAME_SIZE, True, "keep_both", "uploaded", "alt"),
        ("other size", b"short", True, "keep_both", "uploaded", "alt"),
        ("other size, skip", b"short", True, "skip", "skipped", "cam/a.mp4"),
        ("same size other bytes, skip", OTHER_SAME_SIZE, True, "skip", "skipped", "cam/a.mp4"),
        ("other size, overwrite", b"short", True, "overwrite", "uploaded", "cam/a.mp4"),
        ("identical, overwrite adopts", CONTENT, True, "overwrite", "adopted", "cam/a.mp4"),
    ],
)
def test_existing_key(tmp_path, name, existing, checksums, on_conflict, outcome, final_key) -> None:
    store = FakeStore(keep_checksums=checksums)
    store.put("cam/a.mp4", existing)
    f = real_file(tmp_path)
    alt = keep_both_key("cam/a.mp4", f.size, f.mtime_ns)
    final_key = alt if final_key == "alt" else final_key
    ex = executor(store, on_conflict=on_conflict)
    r = ex.upload_one(upload(f))
    assert r.key == final_key, name
    assert r.attempts == 1, "finding the key taken is not a failed attempt"
    assert ex.sleep == []
    if outcome == "adopted":
        assert r.outcome is Outcome.ADOPTED
        assert r.checksum == (digest(CONTENT) if checksums else None)
        assert len(store.calls) == 1
    elif outcome == "uploaded":
        assert r.outcome is Outcome.UPLOADED
        assert store.objects[final_key][0] == CONTENT
    else:
        assert r.outcome is Outcome.CONFLICT_SKIPPED
    if final_key != "cam/a.mp4" or outcome == "skipped":
        assert store.objects["cam/a.mp4"][0] == existing, "their object is untouched"


def test_without_a_stored_checksum_the_md5_etag_decides_not_the_size(tmp_path: Path) -> None:
    """Same size is never enough: other bytes of the same size are someone else's object."""
    store = FakeStore(keep_checksums=False)
    store.put("cam/a.mp4", OTHER_SAME_SIZE)
    f = real_file(tmp_path)
    r = executor(store).upload_one(upload(f))
    assert (r.outcome, r.key) == (Outcome.UPLOADED, keep_both_key("cam/a.mp4", f.size, f.mtime_ns))

    same = FakeStore(keep_checksums=False)
    same.put("cam/a.mp4", CONTENT)
    r = executor(same).upload_one(upload(f))
    assert (r.outcome, r.key) == (Outcome.ADOPTED, "cam/a.mp4")


def test_keep_both_when_the_alternative_is_taken_too(tmp_path: Path) -> None:
    store = FakeStore()
    f = real_file(tmp_path)
    alt = keep_both_key("cam/a.mp4", f.size, f.mtime_ns)
    store.put("cam/a.mp4", b"theirs")
    store.put(alt, b"also theirs")
    r = executor(store).upload_one(upload(f))
    assert (r.ok, r.key) == (False, alt)
    assert "hold other content" in (r.error or "")
    assert store.objects[alt][0] == b"also theirs"


def test_planned_keep_both_upload_finding_its_key_taken(tmp_path: Path) -> None:
    store = FakeStore()
    f = real_file(tmp_path)
    alt = keep_both_key("cam/a.mp4", f.size, f.mtime_ns)
    store.put(alt, b"someone else")
    r = executor(store).upload_one(upload(f, alt, Reason.CONFLICT_KEEP_BOTH))
    assert (r.ok, r.key) == (False, alt) and "hold other content" in (r.error or "")


def test_planned_overwrite_does_not_ask(tmp_path: Path) -> None:
    store = FakeStore()
    store.put("cam/a.mp4", b"old version of ours")
    r = executor(store).upload_one(upload(real_file(tmp_path), overwrite=True))
    assert r.outcome is Outcome.UPLOADED
    assert store.calls == [("cam/a.mp4", True)]
    assert store.objects["cam/a.mp4"][0] == CONTENT


# ---- the file changes or goes --------------------------------------------------------------------
def test_file_changed_between_plan_and_open(tmp_path: Path) -> None:
    f = real_file(tmp_path)
    with open(tmp_path / "a.mp4", "ab") as fh:
        fh.write(b"more")
    store = FakeStore()
    r = executor(store).upload_one(upload(f))
    assert r.outcome is Outcome.CHANGED
    assert store.calls == []


def test_mtime_touched_between_plan_and_open(tmp_path: Path) -> None:
    f = real_file(tmp_path)
    os.utime(tmp_path / "a.mp4", ns=(f.mtime_ns + 10**9, f.mtime_ns + 10**9))
    r = executor(FakeStore()).upload_one(upload(f))
    assert r.outcome is Outcome.CHANGED


def test_file_that_grows_during_upload_is_not_done(tmp_path: Path) -> None:
    f = real_file(tmp_path)

    def recorder_appends(fh, progress, on_mp) -> None:
        with open(tmp_path / "a.mp4", "ab") as writer:
            writer.write(b"appended while uploading")

    store = FakeStore()
    store.script["cam/a.mp4"] = [recorder_appends]
    r = executor(store).upload_one(upload(f))
    assert r.outcome is Outcome.CHANGED
    assert "cam/a.mp4" not in store.objects, "a changed file must never be published"


def test_file_that_shrinks_during_upload(tmp_path: Path) -> None:
    f = real_file(tmp_path)

    def truncate(fh, progress, on_mp) -> None:
        os.truncate(tmp_path / "a.mp4", 10)

    store = FakeStore()
    store.script["cam/a.mp4"] = [truncate]
    r = executor(store).upload_one(upload(f))
    assert r.outcome is Outcome.CHANGED


def test_store_noticing_a_short_read_reports_changed(tmp_path: Path) -> None:
    store = FakeStore()
    store.script["cam/a.mp4"] = [FileChanged()]
    r = executor(store).upload_one(upload(real_file(tmp_path)))
    assert (r.outcome, r.attempts) == (Outcome.CHANGED, 1)


def test_gone_at_open(tmp_path: Path) -> None:
    f = real_file(tmp_path)
    os.remove(tmp_path / "a.mp4")
    store = FakeStore()
    r = executor(store).upload_one(upload(f))
    assert (r.outcome, r.error) == (Outcome.GONE, None)
    assert store.calls == []


def test_a_symlink_swapped_in_after_the_scan_is_never_followed(tmp_path: Path) -> None:
    f = real_file(tmp_path)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(CONTENT[::-1])  # what a root-only file's bytes would be
    os.remove(tmp_path / "a.mp4")
    os.symlink(secret, tmp_path / "a.mp4")
    store = FakeStore()
    r = executor(store).upload_one(upload(f))
    assert (r.outcome, r.error) == (Outcome.GONE, None)  # the regular file the scan saw is gone
    assert store.calls == [] and store.objects == {}


def test_a_file_swapped_for_another_after_the_scan_is_not_uploaded_now(tmp_path: Path) -> None:
    f = real_file(tmp_path)
    (tmp_path / "new.mp4").write_bytes(CONTENT[::-1])
    os.utime(tmp_path / "new.mp4", ns=(f.mtime_ns, f.mtime_ns))  # same size, same mtime
    os.replace(tmp_path / "new.mp4", tmp_path / "a.mp4")
    store = FakeStore()
    r = executor(store).upload_one(upload(f))
    assert (r.outcome, r.error) == (Outcome.CHANGED, None)  # judged afresh on a later pass
    assert store.calls == []


def _raiser(exc: BaseException) -> Callable[[LocalFile], IO[bytes]]:
    def opener(file: LocalFile) -> IO[bytes]:
        raise exc
    return opener


def test_locked_at_open(tmp_path: Path) -> None:
    r = executor(FakeStore(), opener=_raiser(FileLocked(32, "sharing violation"))).upload_one(
        upload(real_file(tmp_path)))
    assert (r.outcome, r.error) == (Outcome.LOCKED, None)


def test_unreadable_at_open(tmp_path: Path) -> None:
    r = executor(FakeStore(), opener=_raiser(PermissionError(13, "Permission denied"))).upload_one(
        upload(real_file(tmp_path)))
    assert r.outcome is Outcome.FAILED
    assert r.error == "cannot read the file: Permission denied"


# ---- stopping --------------------------------------------------------------------------------------
def test_stop_before_upload(tmp_path: Path) -> None:
    store = FakeStore()
    ex = executor(store)
    ex.stop.set()
    r = ex.upload_one(upload(real_file(tmp_path)))
    assert (r.outcome, r.attempts) == (Outcome.STOPPED, 0)
    assert store.calls == []


def test_stop_between_retries(tmp_path: Path) -> None:
    store = FakeStore()
    store.script["cam/a.mp4"] = retryable(5)
    stop = threading.Event()
    ex = executor(store, stop=stop, sleep=lambda s: stop.set())  # Ctrl+C during the backoff
    r = ex.upload_one(upload(real_file(tmp_path)))
    assert (r.outcome, r.attempts) == (Outcome.STOPPED, 1)
    assert len(store.calls) == 1


def test_stop_during_upload(tmp_path: Path) -> None:
    store = FakeStore()
    stop = threading.Event()
    store.script["cam/a.mp4"] = [lambda fh, progress, on_mp: (stop.set(), progress(1))]
    r = executor(store, stop=stop).upload_one(upload(real_file(tmp_path)))
    assert r.outcome is Outcome.STOPPED
    assert "cam/a.mp4" not in store.objects


def test_run_after_stop_starts_nothing(tmp_path: Path) -> None:
    store, recorded = FakeStore(), []
    ex = executor(store)
    ex.stop.set()
    assert ex.run([upload(real_file(tmp_path))], recorded.append) is None
    assert (store.calls, recorded) == ([], [])


# ---- backoff arithmetic ------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", [RetryPolicy(5, 1.0, 60.0), RetryPolicy(10, 0.5, 7.0),
                                    RetryPolicy(3, 2.0, 1.0)])
def test_retry_delay_bounds(policy: RetryPolicy) -> None:
    for rand in (0.0, 0.3, 0.999999, 1.0):
        previous = 0.0
        for attempt in range(1, 60):
            ceiling = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
            d = policy.delay(attempt, lambda r=rand: r)
            assert ceiling / 2 <= d <= ceiling <= policy.max_delay
            assert d >= previous, "never shrinks"
            previous = d
    assert policy.delay(2000, lambda: 1.0) == policy.max_delay, "no overflow for huge attempts"


def test_retry_delay_jitter_spreads() -> None:
    policy = RetryPolicy(5, 1.0, 60.0)
    assert policy.delay(3, lambda: 0.0) == 2.0
    assert policy.delay(3, lambda: 1.0) == 4.0
    assert policy.delay(3, lambda: 0.25) == 2.5


# ---- failures while resolving a taken key, and surprises, stay with their file ----------------
class FlakyHead(FakeStore):
    def __init__(self, errors: list[BaseException]) -> None:
        super().__init__()
        self.errors = errors

    def head(self, key: str) -> Optional[StoredObject]:
        if self.errors:
            raise self.errors.pop(0)
        return super().head(key)


def test_a_failing_head_after_412_is_retried_like_an_upload(tmp_path: Path) -> None:
    store = FlakyHead([RemoteError(ErrorKind.RETRYABLE, "S3 answered 503: SlowDown", "SlowDown")])
    store.put("cam/a.mp4", CONTENT)  # ours already (a kill between PUT and the manifest write)
    result = executor(store).upload_one(upload(real_file(tmp_path)))
    assert result.outcome is Outcome.ADOPTED
    assert len(store.calls) == 2  # the second PUT found the key again; HEAD answered this time


def test_a_denied_head_after_412_is_recorded_unverified_and_not_resent(tmp_path: Path) -> None:
    """Write-only credentials: a 412 whose HEAD is denied is plan.when_taken's UNVERIFIED."""
    store = FlakyHead([RemoteError(ErrorKind.THIS_FILE, "access denied (HEAD)", "403")])
    store.put("cam/a.mp4", CONTENT)
    result = executor(store).upload_one(upload(real_file(tmp_path)))
    assert result.outcome is Outcome.UNVERIFIED and result.ok and result.error is None
    assert (result.key, result.checksum) == ("cam/a.mp4", None)
    assert len(store.calls) == 1  # not sent again


def test_a_head_failing_otherwise_after_412_still_fails_the_file(tmp_path: Path) -> None:
    refused = RemoteError(ErrorKind.THIS_FILE, "S3 refused the request: InvalidRequest", "InvalidRequest")
    store = FlakyHead([refused])
    store.put("cam/a.mp4", CONTENT)
    result = executor(store).upload_one(upload(real_file(tmp_path)))
    assert result.outcome is Outcome.FAILED and "InvalidRequest" in (result.error or "")


def test_an_unexpected_exception_is_recorded_for_its_file_and_the_others_go_on(tmp_path: Path) -> None:
    store = FakeStore()
    store.script["cam/bad.mp4"] = [ValueError("surprise")]
    files = [upload(real_file(tmp_path, "bad.mp4"), key="cam/bad.mp4"),
             upload(real_file(tmp_path, "good.mp4"), key="cam/good.mp4")]
    recorded: list = []

    fatal = executor(store, parallel_files=1).run(files, recorded.append)

    assert fatal is None
    by_key = {r.action.key: r for r in recorded}
    assert by_key["cam/good.mp4"].ok
    assert not by_key["cam/bad.mp4"].ok and "surprise" in (by_key["cam/bad.mp4"].error or "")


# ---- a listed object of the same size is trusted only if its stored checksum matches ---------
def adopt(f: LocalFile, key: str = "cam/a.mp4") -> Action:
    return Action(ActionKind.ADOPT, Reason.ADOPT_REMOTE, f, key)


def test_listed_object_with_matching_checksum_is_adopted_without_upload(tmp_path: Path) -> None:
    store = FakeStore()
    store.put("cam/a.mp4", CONTENT)
    result = executor(store).upload_one(adopt(real_file(tmp_path)))
    assert result.outcome is Outcome.ADOPTED and store.calls == []


def test_listed_object_of_same_size_but_other_content_is_kept_and_ours_goes_alongside(tmp_path: Path) -> None:
    store = FakeStore()
    store.put("cam/a.mp4", OTHER_SAME_SIZE)
    f = real_file(tmp_path)
    result = executor(store).upload_one(adopt(f))
    assert result.outcome is Outcome.UPLOADED
    assert result.key == keep_both_key("cam/a.mp4", f.size, f.mtime_ns)
    assert store.objects["cam/a.mp4"][0] == OTHER_SAME_SIZE


def test_listed_object_deleted_since_the_listing_is_uploaded_to_its_key(tmp_path: Path) -> None:
    store = FakeStore()
    result = executor(store).upload_one(adopt(real_file(tmp_path)))
    assert result.outcome is Outcome.UPLOADED and result.key == "cam/a.mp4"
    assert store.objects["cam/a.mp4"][0] == CONTENT


class TakenButEmpty(FakeStore):
    """A store that refuses every conditional write as taken while HEAD finds nothing."""

    def upload(self, fh, key, size, overwrite, events=NO_EVENTS, resume_id=None):
        self.calls.append((key, overwrite))
        raise RemoteError(ErrorKind.EXISTS, "an object already exists at this key", "412")


def test_refused_as_taken_with_nothing_there_is_bounded_by_the_attempts(tmp_path: Path) -> None:
    store = TakenButEmpty()
    result = executor(store).upload_one(upload(real_file(tmp_path)))
    assert not result.ok and "no object is there" in (result.error or "")
    assert len(store.calls) == 5  # retry.max_attempts, not forever


def test_an_intent_row_is_never_taken_for_a_resumable_upload(tmp_path: Path) -> None:
    seen_resume: list = []

    class CreateFailsOnce(FakeStore):
        def upload(self, fh, key, size, overwrite, events=NO_EVENTS, resume_id=None):
            seen_resume.append(resume_id)
            if len(seen_resume) == 1:
                events.multipart("creating:" + key, True)  # as MultipartUpload does before a create
                raise RemoteError(ErrorKind.RETRYABLE, "S3 answered 500", "InternalError")
            return super().upload(fh, key, size, overwrite, events, None)

    result = executor(CreateFailsOnce()).upload_one(upload(real_file(tmp_path)))
    assert result.ok
    assert seen_resume == [None, None]
