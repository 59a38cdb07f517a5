"""The shared token bucket for transfer.max_bandwidth, on a fake clock."""

from __future__ import annotations

import hashlib
import io
import threading
import time

import pytest

from reconciler.checksums import FileChanged, SentOtherBytes
from reconciler.s3errors import ErrorKind, RemoteError
from reconciler.throttle import BLOCK, MemoryBudget, RangeBody, SharedHandle, Throttle, send_body


class FakeTime:
    """A clock that only moves when someone sleeps (or the test advances it)."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            self.now += seconds


def throttle(rate, t: FakeTime) -> Throttle:
    return Throttle(rate, clock=t.clock, sleep=t.sleep)


@pytest.mark.parametrize("rate", [None, 0])
def test_no_limit_never_sleeps(rate) -> None:
    t = FakeTime()
    th = throttle(rate, t)
    for _ in range(100):
        th.consume(10**9)
    assert t.sleeps == []


def test_the_bucket_starts_empty_so_the_first_bytes_are_shaped_too() -> None:
    """The old bucket let the first request go free: a 10 MB file went at line rate."""
    t = FakeTime()
    th = throttle(1000, t)
    th.consume(500)
    assert t.sleeps == [pytest.approx(0.5)]
    th.consume(500)
    assert t.sleeps == [pytest.approx(0.5), pytest.approx(0.5)]


@pytest.mark.parametrize(("rate", "chunk", "chunks"), [(1000, 100, 50), (2_000_000, 65536, 100),
                                                       (10, 1, 30)])
def test_long_run_average_is_the_rate(rate: int, chunk: int, chunks: int) -> None:
    t = FakeTime()
    th = throttle(rate, t)
    start = t.now
    for _ in range(chunks):
        th.consume(chunk)
    assert t.now - start == pytest.approx(chunks * chunk / rate)


def test_idle_time_saves_up_at_most_one_second_of_burst() -> None:
    t = FakeTime()
    th = throttle(1000, t)
    th.consume(1000)
    t.now += 3600  # an hour idle
    before = len(t.sleeps)
    th.consume(1000)  # one second's worth goes at once ...
    assert len(t.sleeps) == before
    th.consume(1000)  # ... and no more
    assert t.sleeps[-1] == pytest.approx(1.0)


def test_a_new_rate_applies_within_about_a_second_to_bytes_already_flowing() -> None:
    """The schedule's rate is asked again every RATE_CHECK_SECONDS, mid-upload."""
    t = FakeTime()
    asked: list[float] = []

    def rate() -> int:
        asked.append(t.now)
        return 1000 if t.now < 1010 else 4000

    th = throttle(rate, t)
    start = t.now
    for _ in range(100):  # 10 s at 1000 B/s, then the rest at 4000 B/s
        th.consume(100)
    assert 1010 <= t.now - start + 1000 <= 1010 + 1.0 + (10_000 - 10 * 1000) / 4000
    assert max(b - a for a, b in zip(asked, asked[1:])) <= 1.1


def test_off_means_no_cap_and_no_debt_carried_over() -> None:
    t = FakeTime()
    current: list = [1000]
    th = throttle(lambda: current[0], t)
    th.consume(1000)
    current[0] = None
    t.now += 1.0  # the next check of the source
    th.consume(10**9)
    assert t.sleeps == [pytest.approx(1.0)]


def test_threads_share_one_budget() -> None:
    """Real clock: 4 threads x 5 chunks of 100 bytes at 10 kB/s take about 0.2 s, not 0.05."""
    th = Throttle(10_000)
    start = time.monotonic()
    threads = [threading.Thread(target=lambda: [th.consume(100) for _ in range(5)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    assert 0.19 <= elapsed < 2.0


# ---- the streamed request body ---------------------------------------------------------

class Counting:
    def __init__(self) -> None:
        self.charged: list[int] = []

    def consume(self, n: int) -> None:
        self.charged.append(n)


def test_a_body_sends_exactly_its_range_charging_each_block_as_read() -> None:
    data = bytes(range(256)) * 2000  # 512,000 bytes
    charged = Counting()
    body = RangeBody(SharedHandle(io.BytesIO(data)), 1000, 300_000, charged)  # type: ignore[arg-type]
    assert len(body) == 300_000
    got = b"".join(iter(lambda: body.read(8192), b""))
    assert got == data[1000:301_000]
    assert sum(charged.charged) == 300_000 and max(charged.charged) == BLOCK


def test_a_rewound_body_sends_the_same_bytes_again_and_is_charged_again() -> None:
    """botocore rewinds the body (seek(0)) to retry a request."""
    data = b"abcdefgh" * 20_000
    charged = Counting()
    body = RangeBody(SharedHandle(io.BytesIO(data)), 8, 100_000, charged)  # type: ignore[arg-type]
    first = body.read(70_000)  # a read may return less than asked: up to one block
    assert first == data[8:8 + len(first)] and charged.charged == [BLOCK]
    assert body.seek(0) == 0 and body.tell() == 0
    assert body.read() == data[8:100_008]
    assert sum(charged.charged) == BLOCK + 100_000


def test_a_file_that_shrank_under_the_body_raises_file_changed_and_says_so() -> None:
    fh = io.BytesIO(b"x" * 1000)
    body = RangeBody(SharedHandle(fh), 0, 5000)
    with pytest.raises(FileChanged):
        body.read(4096)
    assert body.changed


def test_parts_read_their_own_ranges_of_one_handle_from_many_threads() -> None:
    data = bytes(range(256)) * 4096
    handle = SharedHandle(io.BytesIO(data))
    out: dict[int, bytes] = {}

    def part(i: int) -> None:
        out[i] = RangeBody(handle, i * 65_536, 65_536).read()

    threads = [threading.Thread(target=part, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert b"".join(out[i] for i in range(16)) == data


# ---- the memory cap -------------------------------------------------------------------------

def test_memory_budget_makes_a_request_wait_until_bytes_are_released() -> None:
    budget = MemoryBudget(100)
    entered, leave = threading.Event(), threading.Event()

    def second() -> None:
        with budget.hold(40):
            entered.set()
            leave.wait(5)

    with budget.hold(80):
        waiter = threading.Thread(target=second)
        waiter.start()
        assert not entered.wait(0.2), "40 more bytes do not fit beside 80 of 100"
    assert entered.wait(2.0)
    assert budget.free == 60
    leave.set()
    waiter.join()
    assert budget.free == 100


def test_a_request_bigger_than_the_whole_budget_still_goes_alone() -> None:
    budget = MemoryBudget(10)
    with budget.hold(1000):
        assert budget.free == 0
    assert budget.free == 10


def test_progress_hears_each_byte_once_even_when_the_body_is_resent() -> None:
    data = b"q" * 200_000
    heard: list[int] = []
    body = RangeBody(SharedHandle(io.BytesIO(data)), 0, len(data), None, heard.append)
    body.read(100_000)
    body.seek(0)
    assert body.read() == data
    assert sum(heard) == len(data)
    assert 0 in heard, "a resent block still gives the callback its say (e.g. to stop)"


class Stop(Exception):
    pass


def test_what_the_body_raised_comes_out_as_itself_not_as_botocores_wrapping() -> None:
    """botocore turns an exception from a body into HTTPClientError (our RemoteError)."""
    def stop(n: int) -> None:
        raise Stop()

    body = RangeBody(SharedHandle(io.BytesIO(b"x" * 1000)), 0, 1000, None, stop)

    def call() -> None:
        try:
            body.read(100)
        except Stop as exc:
            raise RemoteError(ErrorKind.RETRYABLE, "connection broken") from exc

    with pytest.raises(Stop):
        send_body(body, call)


def test_a_digest_mismatch_from_the_store_is_a_changed_file() -> None:
    body = RangeBody(SharedHandle(io.BytesIO(b"x" * 10)), 0, 10)

    def call() -> None:
        raise RemoteError(ErrorKind.RETRYABLE, "S3 answered BadDigest", "BadDigest")

    with pytest.raises(FileChanged):
        send_body(body, call)
    with pytest.raises(RemoteError):
        send_body(body, lambda: (_ for _ in ()).throw(RemoteError(ErrorKind.RETRYABLE, "503", "SlowDown")))


# ---- bytes sent against the checksum claimed (stores that verify nothing) ----------------
def test_a_body_hashes_what_it_sent_and_a_rewind_hashes_afresh() -> None:
    data = bytes(range(256)) * 1000
    body = RangeBody(SharedHandle(io.BytesIO(data)), 0, len(data), hasher=hashlib.sha256)
    body.read(BLOCK + 10)
    body.seek(0)  # botocore's retry sends from the start again
    assert body.read() == data
    assert body.sent_digest() == hashlib.sha256(data).digest()
    partial = RangeBody(SharedHandle(io.BytesIO(data)), 0, len(data), hasher=hashlib.sha256)
    partial.read(100)
    assert partial.sent_digest() is None  # not all of it went: nothing to compare


def test_bytes_that_changed_mid_send_are_told_although_the_store_took_them() -> None:
    original = b"a" * (3 * BLOCK)
    fh = io.BytesIO(original)
    claimed = hashlib.sha256(original).digest()  # the hash pass, before the change
    body = RangeBody(SharedHandle(fh), 0, len(original), hasher=hashlib.sha256)

    def store_takes_anything() -> dict:
        body.read(BLOCK)
        fh.seek(2 * BLOCK)
        fh.write(b"b" * BLOCK)  # the recorder rewrites the tail mid-send, same size
        body.read()
        return {"ETag": '"x"'}

    with pytest.raises(SentOtherBytes) as raised:
        send_body(body, store_takes_anything, claimed)
    assert raised.value.answer == {"ETag": '"x"'}
    same = RangeBody(SharedHandle(io.BytesIO(original)), 0, len(original), hasher=hashlib.sha256)
    assert send_body(same, lambda: same.read() and {"ok": 1}, claimed) == {"ok": 1}
