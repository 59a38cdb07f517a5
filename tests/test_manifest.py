"""The SQLite manifest, on tmp_path files (and :memory: where a file adds nothing)."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from reconciler.manifest import MIGRATIONS, SCHEMA_VERSION, Manifest
from reconciler.models import EntryState, LocalFile, ManifestEntry, Observation
from reconciler.results import PassReport
from reconciler.tables import local_day

ROOT = "/watch/a"
NOW = 1_700_000_000.0
TARGET = "http://127.0.0.1:9000|cams"


def lf(rel: str = "a.mp4", size: int = 100, mtime_ns: int = 5 * 10**18, ino: int = 42,
       root: str = ROOT) -> LocalFile:
    return LocalFile(root, rel, size, mtime_ns, dev=7, ino=ino)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "manifest.sqlite3"


@pytest.fixture
def m(path: Path):
    manifest = Manifest.open(path, TARGET)
    yield manifest
    manifest.close()


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---- opening, migrations, WAL -------------------------------------------------------------------
def test_create_sets_version_wal_and_target(path: Path) -> None:
    m = Manifest.open(path, TARGET)
    try:
        assert m.fresh is True and m.moved_aside is None
        assert m.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
        assert m.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert m.meta("target") == TARGET
    finally:
        m.close()
    again = Manifest.open(path, TARGET)
    try:
        assert again.fresh is False and again.moved_aside is None
    finally:
        again.close()


def test_empty_file_is_created_fresh(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    m = Manifest.open(path, TARGET)
    try:
        assert m.fresh is True
        assert m.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        m.close()


def test_in_memory_manifest_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    m = Manifest.open(":memory:")
    try:
        m.record_uploaded([(lf(), "k", None)], NOW)
        assert list(m.entries_for(ROOT)) == [(ROOT, "a.mp4")]
    finally:
        m.close()
    assert listing(tmp_path) == []  # no file named ":memory:"


# ---- entries round-trip --------------------------------------------------------------------------
def test_record_uploaded_round_trip(m: Manifest) -> None:
    f = lf()
    m.record_uploaded([(f, "cam/a.mp4", "sha256:abc"), (lf("b.mp4", ino=43), "cam/b.mp4", None)], NOW)
    entries = m.entries_for(ROOT)
    assert entries[(ROOT, "a.mp4")] == ManifestEntry(
        ROOT, "a.mp4", "cam/a.mp4", EntryState.UPLOADED, size=100, mtime_ns=f.mtime_ns, dev=7,
        ino=42, checksum="sha256:abc", observation=None, attempts=0, next_attempt_at=None,
        last_error=None, uploaded_at=NOW)
    assert entries[(ROOT, "b.mp4")].checksum is None
    assert m.entries_for("/watch/other") == {}


def test_record_failed_increments_attempts_and_keeps_uploaded_at(m: Manifest) -> None:
    f = lf()
    m.record_failed(f, "cam/a.mp4", "S3 answered 503", NOW + 60)
    e = m.entries_for(ROOT)[(ROOT, "a.mp4")]
    assert (e.state, e.attempts, e.next_attempt_at, e.last_error, e.uploaded_at) == (
        EntryState.FAILED, 1, NOW + 60, "S3 answered 503", None)
    m.record_failed(f, "cam/a.mp4", "network error", NOW + 120)
    e = m.entries_for(ROOT)[(ROOT, "a.mp4")]
    assert (e.attempts, e.next_attempt_at, e.last_error) == (2, NOW + 120, "network error")

    uploaded = lf("up.mp4", ino=50)
    m.record_uploaded([(uploaded, "cam/up.mp4", "c1")], NOW - 500)
    m.record_failed(uploaded, "cam/up.mp4", "boom", NOW + 60)
    e = m.entries_for(ROOT)[(ROOT, "up.mp4")]
    assert (e.state, e.attempts, e.uploaded_at, e.size, e.checksum) == (
        EntryState.FAILED, 1, NOW - 500, 100, "c1")


def test_record_failed_clears_the_observation(m: Manifest) -> None:
    f = lf()
    m.record_observations([(f, "cam/a.mp4", Observation(100, f.mtime_ns, 2, NOW))])
    m.record_failed(f, "cam/a.mp4", "x", NOW + 60)
    assert m.entries_for(ROOT)[(ROOT, "a.mp4")].observation is None


def test_record_uploaded_resets_a_failure(m: Manifest) -> None:
    f = lf()
    m.record_failed(f, "cam/a.mp4", "x", NOW + 60)
    m.record_uploaded([(f, "cam/a.mp4", None)], NOW)
    e = m.entries_for(ROOT)[(ROOT, "a.mp4")]
    assert (e.state, e.attempts, e.next_attempt_at, e.last_error) == (EntryState.UPLOADED, 0, None, None)


def test_record_observations(m: Manifest) -> None:
    f, up = lf(), lf("up.mp4", ino=50)
    m.record_uploaded([(up, "cam/up.mp4", None)], NOW)
    m.record_observations([(f, "cam/a.mp4", Observation(100, f.mtime_ns, 1, NOW)),
                           (up, "cam/up.mp4", Observation(120, 9, 1, NOW))])
    entries = m.entries_for(ROOT)
    assert entries[(ROOT, "a.mp4")].state is EntryState.PENDING
    assert entries[(ROOT, "a.mp4")].observation == Observation(100, f.mtime_ns, 1, NOW)
    assert entries[(ROOT, "up.mp4")].state is EntryState.UPLOADED, "an uploaded row stays uploaded"
    assert entries[(ROOT, "up.mp4")].observation == Observation(120, 9, 1, NOW)
    assert entries[(ROOT, "up.mp4")].size == 100, "the uploaded version's size is kept"
    m.record_observations([(f, "cam/a.mp4", Observation(100, f.mtime_ns, 2, NOW))])
    assert m.entries_for(ROOT)[(ROOT, "a.mp4")].observation.count == 2
    m.record_observations([])  # nothing to write is fine


def test_forget_leaves_uploaded_rows(m: Manifest) -> None:
    pending, failed, up = lf("p.mp4"), lf("f.mp4"), lf("u.mp4")
    m.record_observations([(pending, "k/p", Observation(1, 1, 1, NOW))])
    m.record_failed(failed, "k/f", "x", NOW)
    m.record_uploaded([(up, "k/u", None)], NOW)
    m.forget([(ROOT, "p.mp4"), (ROOT, "f.mp4"), (ROOT, "u.mp4"), (ROOT, "never.mp4")])
    assert list(m.entries_for(ROOT)) == [(ROOT, "u.mp4")]
    m.forget([])


def test_record_overwritten(m: Manifest) -> None:
    f = lf()
    m.record_uploaded([(f, "cam/a.mp4", "c")], NOW - 100)
    m.record_observations([(f, "cam/a.mp4", Observation(100, f.mtime_ns, 3, NOW))])
    m.record_overwritten(f, "cam/a.mp4", NOW)
    e = m.entries_for(ROOT)[(ROOT, "a.mp4")]
    assert (e.state, e.uploaded_at, e.observation) == (EntryState.PENDING, NOW, None)
    fresh = lf("new.mp4")
    m.record_overwritten(fresh, "cam/new.mp4", NOW)
    e = m.entries_for(ROOT)[(ROOT, "new.mp4")]
    assert (e.state, e.key, e.uploaded_at) == (EntryState.PENDING, "cam/new.mp4", NOW)


def test_reset_observation(m: Manifest) -> None:
    f = lf()
    m.record_observations([(f, "k", Observation(100, f.mtime_ns, 2, NOW))])
    m.reset_observation(f)
    assert m.entries_for(ROOT)[(ROOT, "a.mp4")].observation is None


def test_uploaded_by_identity(m: Manifest) -> None:
    up, no_ino, pending = lf("u.mp4", ino=9), lf("z.mp4", ino=0), lf("p.mp4", ino=10)
    m.record_uploaded([(up, "k/u", None), (no_ino, "k/z", None)], NOW)
    m.record_observations([(pending, "k/p", Observation(1, 1, 1, NOW))])
    found = m.uploaded_by_identity()
    assert list(found) == [up.identity]
    assert found[up.identity] == "k/u"
    other_root = lf("u.mp4", ino=9, root="/watch/b")
    assert other_root.identity in found, "the identity does not depend on the watch dir"


def test_state_counts_and_failing(m: Manifest) -> None:
    m.record_uploaded([(lf("u1.mp4", size=10), "k1", None), (lf("u2.mp4", size=5), "k2", None)], NOW)
    m.record_failed(lf("f1.mp4"), "kf1", "x", NOW + 20)
    m.record_failed(lf("f2.mp4"), "kf2", "y", NOW + 10)
    counts = m.state_counts()
    assert counts["uploaded"]["files"] == 2 and counts["uploaded"]["bytes"] == 15
    assert counts["failed"]["files"] == 2
    assert [e.rel for e in m.failing()] == ["f2.mp4", "f1.mp4"]


# ---- recovery: moved aside, never fatal ------------------------------------------------------------
def test_corrupt_file_is_moved_aside_and_fresh(path: Path) -> None:
    path.parent.mkdir(parents=True)
    junk = b"this is not a database at all" * 200
    path.write_bytes(junk)
    m = Manifest.open(path, TARGET)
    try:
        assert m.fresh is True
        assert m.moved_aside is not None
        aside = m.moved_aside.split(" ", 1)[0]
        assert Path(aside).read_bytes() == junk
        assert Path(aside).name.startswith("manifest.sqlite3.corrupt-")
        m.record_uploaded([(lf(), "k", None)], NOW)
        assert len(m.entries_for(ROOT)) == 1
    finally:
        m.close()


def test_damaged_database_is_moved_aside(path: Path) -> None:
    m = Manifest.open(path, TARGET)
    m.record_uploaded([(lf(f"{i}.mp4", ino=i + 1), f"k{i}", None) for i in range(300)], NOW)
    m.close()
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 3 * page
    data[page:page * 3] = b"\xff" * (page * 2)  # smash b-tree pages, keep the header
    path.write_bytes(bytes(data))
    again = Manifest.open(path, TARGET)
    try:
        assert again.moved_aside is not None and again.fresh is True
        assert again.entries_for(ROOT) == {}
    finally:
        again.close()


def test_future_schema_is_moved_aside(path: Path) -> None:
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE files (x)")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    db.commit()
    db.close()
    m = Manifest.open(path, TARGET)
    try:
        assert m.fresh is True
        assert m.moved_aside is not None and "newer" in m.moved_aside
        assert m.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        m.close()
    aside = [p for p in path.parent.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1


def test_another_buckets_manifest_is_moved_aside(path: Path) -> None:
    m = Manifest.open(path, "aws|old-bucket")
    m.record_uploaded([(lf(), "k", None)], NOW)
    m.close()
    again = Manifest.open(path, "aws|new-bucket")
    try:
        assert again.fresh is True
        assert again.moved_aside is not None
        assert "old-bucket" in again.moved_aside and "new-bucket" in again.moved_aside
        assert again.entries_for(ROOT) == {}
        assert again.meta("target") == "aws|new-bucket"
    finally:
        again.close()
    aside = [p for p in path.parent.iterdir() if ".other-bucket-" in p.name and not p.name.endswith(
        ("-wal", "-shm"))]
    assert len(aside) == 1
    old = sqlite3.connect(aside[0])
    try:
        assert old.execute("SELECT count(*) FROM files").fetchone()[0] == 1
    finally:
        old.close()


def test_same_target_keeps_rows(path: Path) -> None:
    m = Manifest.open(path, TARGET)
    m.record_uploaded([(lf(), "k", None)], NOW)
    m.close()
    again = Manifest.open(path, TARGET)
    try:
        assert again.moved_aside is None and len(again.entries_for(ROOT)) == 1
    finally:
        again.close()


# ---- read-only opening (dry run, status) --------------------------------------------------------
def test_open_readonly_missing_returns_none_and_creates_nothing(tmp_path: Path) -> None:
    before = listing(tmp_path)
    assert Manifest.open_readonly(tmp_path / "state" / "manifest.sqlite3", TARGET) is None
    assert listing(tmp_path) == before
    assert not (tmp_path / "state").exists()


def test_open_readonly_reads_and_writes_nothing(path: Path) -> None:
    m = Manifest.open(path, TARGET)
    m.record_uploaded([(lf(), "k", None)], NOW)
    m.close()
    before = listing(path.parent)
    stamps = {p.name: p.stat().st_mtime_ns for p in path.parent.iterdir()}
    ro = Manifest.open_readonly(path, TARGET)
    assert ro is not None
    try:
        assert ro.fresh is False
        assert list(ro.entries_for(ROOT)) == [(ROOT, "a.mp4")]
        assert ro.uploaded_by_identity()
        with pytest.raises(sqlite3.DatabaseError):
            ro.db.execute("DELETE FROM files")
    finally:
        ro.close()
    assert listing(path.parent) == before
    assert {p.name: p.stat().st_mtime_ns for p in path.parent.iterdir()} == stamps


def test_open_readonly_corrupt_returns_none_and_leaves_it(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 1000)
    before = listing(path.parent)
    assert Manifest.open_readonly(path, TARGET) is None
    assert listing(path.parent) == before
    assert path.read_bytes() == b"garbage" * 1000


def test_open_readonly_other_target_or_future_version_is_none(path: Path) -> None:
    Manifest.open(path, TARGET).close()
    assert Manifest.open_readonly(path, "aws|another") is None
    assert Manifest.open_readonly(path, TARGET) is not None
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    assert Manifest.open_readonly(path, TARGET) is None


def test_open_readonly_next_to_a_live_writer(path: Path) -> None:
    writer = Manifest.open(path, TARGET)
    try:
        writer.record_uploaded([(lf(), "k", None)], NOW)
        assert Path(str(path) + "-wal").exists(), "a writer is active"
        ro = Manifest.open_readonly(path, TARGET)
        assert ro is not None
        try:
            assert list(ro.entries_for(ROOT)) == [(ROOT, "a.mp4")]
        finally:
            ro.close()
    finally:
        writer.close()


# ---- multipart and passes ------------------------------------------------------------------------
def test_multipart_table(m: Manifest) -> None:
    m.multipart_started("up-1", "cam/a.mp4", NOW)
    m.multipart_started("up-2", "cam/b.mp4", NOW + 1)
    assert [(p.upload_id, p.key, p.started_at) for p in m.open_multiparts()] == [
        ("up-1", "cam/a.mp4", NOW), ("up-2", "cam/b.mp4", NOW + 1)]
    m.multipart_ended("up-1")
    assert [(p.upload_id, p.key, p.started_at) for p in m.open_multiparts()] == [
        ("up-2", "cam/b.mp4", NOW + 1)]
    m.multipart_ended("never-started")
    assert len(m.open_multiparts()) == 1


def test_multipart_rows_survive_a_reopen(path: Path) -> None:
    m = Manifest.open(path, TARGET)
    m.multipart_started("up-1", "cam/a.mp4", NOW)
    m.close()
    again = Manifest.open(path, TARGET)
    try:
        assert [(p.upload_id, p.key, p.started_at) for p in again.open_multiparts()] == [
            ("up-1", "cam/a.mp4", NOW)]
    finally:
        again.close()


def test_pass_round_trip(m: Manifest) -> None:
    pid = m.start_pass(NOW)
    report = PassReport(started_at=NOW, finished_at=NOW + 3, found=4, uploaded=2, failed=1)
    m.finish_pass(pid, report)
    (last,) = m.passes()
    assert (last["started_at"], last["finished_at"], last["exit_code"]) == (NOW, NOW + 3, 1)
    assert last["report"]["uploaded"] == 2 and last["report"]["found"] == 4


def test_passes_table_keeps_the_last_thousand() -> None:
    m = Manifest.open(":memory:")
    try:
        ids = [m.start_pass(NOW + i) for i in range(1100)]
        count, lowest = m.db.execute("SELECT count(*), min(id) FROM passes").fetchone()
        assert 1000 <= count <= 1001
        assert lowest >= ids[-1] - 1000
        assert m.passes(limit=1)[0]["started_at"] == NOW + 1099, "the newest is kept"
    finally:
        m.close()


def test_writes_are_visible_to_a_second_connection(path: Path) -> None:
    """Each write is its own committed transaction, so a kill right after loses nothing."""
    m = Manifest.open(path, TARGET)
    try:
        m.record_uploaded([(lf(), "k", None)], NOW)
        other = sqlite3.connect(path)
        try:
            assert other.execute("SELECT count(*) FROM files").fetchone()[0] == 1
        finally:
            other.close()
    finally:
        m.close()


def test_state_dir_is_created(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "manifest.sqlite3"
    Manifest.open(target).close()
    assert target.exists()
    assert os.path.isdir(tmp_path / "a" / "b")


def test_multipart_rows_remember_their_file_so_the_upload_can_resume(m: Manifest) -> None:
    f = lf("cam/a.mp4", size=50 << 20)
    m.multipart_started("up-1", "k/a.mp4", NOW, f, 16 << 20)
    (pending,) = m.open_multiparts()
    assert pending.resumes(f, "k/a.mp4", 16 << 20)
    assert not pending.resumes(f, "k/a.mp4", 8 << 20)  # other part size: parts would not line up
    assert not pending.resumes(lf("cam/a.mp4", size=51 << 20), "k/a.mp4", 16 << 20)  # file changed
    assert not pending.resumes(f, "k/other.mp4", 16 << 20)


def test_version_1_manifest_is_migrated_keeping_its_rows(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)")
    MIGRATIONS[0](db)
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO multipart VALUES ('old-up', 'k/a.mp4', 1.0)")
    db.execute("INSERT INTO files (root, rel, key, state, size) "
               "VALUES ('/w', 'a.mp4', 'k/a.mp4', 'uploaded', 5)")
    db.commit()
    db.close()

    m = Manifest.open(path)
    try:
        assert m.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        (old,) = m.open_multiparts()
        assert (old.upload_id, old.root) == ("old-up", None)  # not resumable: will be aborted
        assert m.entries_for("/w")[("/w", "a.mp4")].size == 5
        assert m.fresh is False
    finally:
        m.close()


def test_a_full_disk_fails_the_write_with_a_sentence_and_keeps_what_was_there(m: Manifest) -> None:
    from reconciler.manifest import ManifestError

    kept = lf("kept.mp4")
    m.record_uploaded([(kept, "k/kept", None)], NOW)
    pages = m.db.execute("PRAGMA page_count").fetchone()[0]
    m.db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite answers SQLITE_FULL from now on
    many = [(lf(f"f{i:05}.mp4", ino=1000 + i), f"k/{i}", None) for i in range(2000)]

    with pytest.raises(ManifestError, match="is full: free some space"):
        m.record_uploaded(many, NOW)

    assert list(m.entries_for(ROOT)) == [(ROOT, "kept.mp4")]  # the failed batch left nothing half-written


def test_the_full_integrity_check_is_skipped_only_for_a_file_as_our_clean_close_left_it(path: Path) -> None:
    from reconciler.dbfile import CHECK_EVERY_SECONDS, last_check_if_untouched

    m = Manifest.open(path, TARGET)
    m.record_uploaded([(lf(), "k", None)], NOW)
    m.close()
    checked = last_check_if_untouched(str(path))
    assert checked is not None  # untouched since a clean close: an idle pass need not read every page

    stamp = (path.parent / (path.name + ".ok")).read_text()
    size, mtime, _ = stamp.split()
    (path.parent / (path.name + ".ok")).write_text(f"{size} {mtime} {checked - CHECK_EVERY_SECONDS - 1}")
    assert last_check_if_untouched(str(path)) is None  # checked over a day ago: check again

    (path.parent / (path.name + ".ok")).write_text(stamp)
    with open(path, "r+b") as f:  # changed by something else: check again
        f.seek(5000)
        f.write(b"\xff" * 10)
    assert last_check_if_untouched(str(path)) is None

    (path.parent / (path.name + "-wal")).write_bytes(b"")  # a crash left a WAL: check again
    assert last_check_if_untouched(str(path)) is None


# ---- issue 8: one spelling of the target, no password stored, private files ------------------------
@pytest.mark.parametrize(
    ("written", "normal"),
    [("http://127.0.0.1:9000/|cams", "http://127.0.0.1:9000|cams"),
     ("HTTP://NAS.local:9000|cams", "http://nas.local:9000|cams"),
     ("http://nas:80/|cams", "http://nas|cams"), ("https://s3.example.com:443|cams", "https://s3.example.com|cams"),
     ("http://user:pa%40ss@nas:9000|cams", "http://nas:9000|cams"),
     ("http://[::1]:8333/|cams", "http://[::1]:8333|cams"), ("aws|cams", "aws|cams")],
)
def test_normal_target(written: str, normal: str) -> None:
    from reconciler.manifest import normal_target

    assert normal_target(written) == normal


@pytest.mark.parametrize("spelling", ["http://127.0.0.1:9000/", "HTTP://127.0.0.1:9000",
                                      "http://me:secret@127.0.0.1:9000"])
def test_the_same_store_spelled_another_way_keeps_the_manifest(path: Path, spelling: str) -> None:
    m = Manifest.open(path, TARGET)
    m.record_uploaded([(lf(), "k", None)], NOW)
    m.close()
    again = Manifest.open(path, f"{spelling}|cams")
    try:
        assert again.moved_aside is None and len(again.entries_for(ROOT)) == 1
        assert again.meta("target") == TARGET
    finally:
        again.close()
    readonly = Manifest.open_readonly(path, f"{spelling}|cams")
    assert readonly is not None
    readonly.close()


def test_a_password_in_the_endpoint_is_never_stored(path: Path) -> None:
    m = Manifest.open(path, "http://me:s3cret@127.0.0.1:9000|cams")
    pass_id = m.start_pass(NOW)
    report = PassReport(started_at=NOW, fatal="cannot connect to http://me:s3cret@127.0.0.1:9000/cams")
    m.finish_pass(pass_id, report)
    m.close()
    for f in path.parent.iterdir():
        assert b"s3cret" not in f.read_bytes(), f.name


def test_a_target_row_an_older_version_stored_with_a_password_is_rewritten(path: Path) -> None:
    m = Manifest.open(path, "")
    m.set_meta("target", "http://me:s3cret@127.0.0.1:9000/|cams")  # as older versions wrote it
    m.record_uploaded([(lf(), "k", None)], NOW)
    m.close()
    again = Manifest.open(path, TARGET)
    try:
        assert again.moved_aside is None and again.meta("target") == TARGET
    finally:
        again.close()


def test_the_moved_aside_warning_never_shows_a_password(path: Path) -> None:
    Manifest.open(path, "http://me:s3cret@old-nas:9000|cams").close()
    again = Manifest.open(path, "http://me:s3cret@new-nas:9000|cams")
    try:
        assert again.moved_aside and "s3cret" not in again.moved_aside and "old-nas" in again.moved_aside
    finally:
        again.close()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_state_dir_0700_and_manifest_files_0600_whatever_the_umask(path: Path) -> None:
    old = os.umask(0)  # the most permissive umask: modes must not depend on it
    try:
        m = Manifest.open(path, TARGET)
        m.record_uploaded([(lf(), "k", None)], NOW)
        assert oct(path.parent.stat().st_mode & 0o777) == oct(0o700)
        names = {p.name: oct(p.stat().st_mode & 0o777) for p in path.parent.iterdir()}
        assert {"manifest.sqlite3", "manifest.sqlite3-wal"} <= set(names)
        assert set(names.values()) == {oct(0o600)}, names
        m.close()
    finally:
        os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_an_older_world_readable_manifest_is_tightened(path: Path) -> None:
    Manifest.open(path, TARGET).close()
    os.chmod(path, 0o644)
    Manifest.open(path, TARGET).close()
    assert path.stat().st_mode & 0o777 == 0o600


# ---- live segments -------------------------------------------------------------------------------
def test_segments_are_remembered_across_runs_and_restart_from_zero(path: Path) -> None:
    from reconciler.models import LiveState

    f = lf("live.mp4")
    m = Manifest.open(path, TARGET)
    m.record_segment(f, "cam/_camup/live/cam/live.mp4/", 0, 1000, NOW, ("ab" * 32, 1000))
    m.record_segment(f, "cam/_camup/live/cam/live.mp4/", 1, 2500, NOW + 60)
    m.record_segment(f, "cam/_camup/live/cam/live.mp4/", 5, 9999, NOW + 61)  # not the next seq: ignored
    m.close()
    m = Manifest.open(path, TARGET)  # the next --once run
    try:
        assert m.live_states() == {f.id: LiveState(ROOT, "live.mp4", "cam/_camup/live/cam/live.mp4/", 2,
                                                   2500, NOW + 60, "ab" * 32, 1000)}
        m.record_segment(f, "cam/_camup/live/cam/live.mp4/", 0, 400, NOW + 120, ("cd" * 32, 400))
        (state,) = m.live_states().values()
        assert (state.segments, state.sent, state.head_sha) == (1, 400, "cd" * 32)
        m.forget_live([f.id])
        assert m.live_states() == {}
    finally:
        m.close()


def test_the_live_clock_is_kept_with_the_observation_until_upload(m: Manifest) -> None:
    f = lf("live.mp4")
    m.record_observations([(f, "cam/live.mp4", Observation(100, 5, 1, NOW, since=NOW - 30))])
    assert m.entries_for(ROOT)[f.id].observation == Observation(100, 5, 1, NOW, NOW - 30)
    m.record_uploaded([(f, "cam/live.mp4", None)], NOW)
    assert m.entries_for(ROOT)[f.id].observation is None


def test_version_2_manifest_gains_the_live_table_keeping_its_rows(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)")
    MIGRATIONS[0](db)
    MIGRATIONS[1](db)
    db.execute("PRAGMA user_version = 2")
    db.execute("INSERT INTO files (root, rel, key, state, obs_size, obs_mtime_ns, obs_count, obs_first) "
               "VALUES ('/w', 'a.mp4', 'k/a.mp4', 'pending', 5, 6, 1, 7.0)")
    db.commit()
    db.close()
    m = Manifest.open(path)
    try:
        assert m.entries_for("/w")[("/w", "a.mp4")].observation == Observation(5, 6, 1, 7.0, None)
        assert m.live_states() == {}
    finally:
        m.close()


def test_a_file_gone_before_its_whole_upload_takes_its_live_row_along(m: Manifest) -> None:
    f = lf("live.mp4")
    m.record_observations([(f, "cam/live.mp4", Observation(100, 5, 1, NOW, since=NOW - 30))])
    m.record_segment(f, "cam/_camup/live/cam/live.mp4/", 0, 100, NOW)
    m.forget([f.id])
    assert m.live_states() == {} and m.entries_for(ROOT) == {}


# ---- alert state and the backlog (notify) -----------------------------------------------
def test_alerts_are_kept_across_opens_and_replaced_whole(path: Path) -> None:
    from reconciler.models import AlertState

    m = Manifest.open(path)
    m.save_alerts({"bucket": AlertState("bucket", NOW, NOW, "down"),
                   "disk": AlertState("disk", NOW, None, "short")})
    m.close()
    again = Manifest.open(path)
    try:
        assert again.alerts() == {"bucket": AlertState("bucket", NOW, NOW, "down"),
                                  "disk": AlertState("disk", NOW, None, "short")}
        again.save_alerts({"disk": AlertState("disk", NOW, NOW + 1, "short")})
        assert list(again.alerts()) == ["disk"]
    finally:
        again.close()


def test_an_unchanged_alert_state_writes_nothing(m: Manifest) -> None:
    from reconciler.models import AlertState

    m.save_alerts({"bucket": AlertState("bucket", NOW, NOW, "down")})
    before = m.db.total_changes
    m.save_alerts({"bucket": AlertState("bucket", NOW, NOW, "down")})
    m.note_ready([], NOW)
    assert m.db.total_changes == before


def test_ready_files_keep_their_first_seen_ready_time_until_uploaded(m: Manifest) -> None:
    a, b = lf("a.mp4", ino=1), lf("b.mp4", ino=2)
    m.note_ready([a.id, b.id], NOW)
    m.note_ready([a.id, b.id], NOW + 300)
    assert m.oldest_ready_since() == NOW  # still waiting: the first time counts
    m.record_uploaded([(a, "k/a", None)], NOW + 400)
    m.note_ready([a.id, b.id], NOW + 600)
    assert m.db.execute("SELECT rel, since FROM ready_since").fetchall() == [("b.mp4", NOW)]
    m.note_ready([], NOW + 900)  # b no longer ready (growing again, or gone)
    assert m.oldest_ready_since() is None


def test_exit_codes_newest_first(m: Manifest) -> None:
    from reconciler.results import PassReport

    for code_fatal in (None, "down", "down"):
        pid = m.start_pass(NOW)
        m.finish_pass(pid, PassReport(started_at=NOW, fatal=code_fatal))
    assert m.exit_codes(2) == [4, 4]
    assert m.exit_codes(10) == [4, 4, 0]


# ---- bytes sent per local day (transfer.daily_budget) ----------------------------------------

def test_bytes_sent_are_counted_per_day_and_survive_reopening(path: Path) -> None:
    m = Manifest.open(path)
    try:
        assert m.bytes_sent_on("2026-12-01") == 0
        m.record_uploaded([], NOW, sent={"2026-12-01": 600})  # as the Recorder writes a batch
        m.record_uploaded([], NOW, sent={"2026-12-01": 400, "2026-12-02": 7})
    finally:
        m.close()
    again = Manifest.open(path)
    try:
        assert again.bytes_sent_on("2026-12-01") == 1000  # a later --once run sees the day's use
        assert again.bytes_sent_on("2026-12-02") == 7
        assert again.bytes_sent_on("2026-12-03") == 0  # a new day starts from nothing
    finally:
        again.close()


def test_a_version_2_manifest_gains_the_daily_table_keeping_its_rows(path: Path) -> None:
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)")
    MIGRATIONS[0](db)
    MIGRATIONS[1](db)
    db.execute("PRAGMA user_version = 2")
    db.execute("INSERT INTO files (root, rel, key, state, size) VALUES ('/w', 'a.mp4', 'k', 'uploaded', 5)")
    db.commit()
    db.close()
    m = Manifest.open(path)
    try:
        assert [e.rel for e in m.all_entries()] == ["a.mp4"]
        m.record_uploaded([], NOW, sent={"2026-12-01": 5})
        assert m.bytes_sent_on("2026-12-01") == 5
    finally:
        m.close()


def test_local_day_is_the_local_calendar_date() -> None:
    noon = time.mktime((2026, 12, 1, 12, 0, 0, 0, 0, -1))
    assert local_day(noon) == "2026-12-01"
    assert local_day(noon + 12 * 3600) == "2026-12-02"  # local midnight starts a new day
