"""scan() over real temporary folders."""

from __future__ import annotations

import os
import time
import unicodedata
from pathlib import Path

import pytest
from loguru import logger

from reconciler.config import DEFAULT_EXCLUDE, DEFAULT_EXTENSIONS
from reconciler.dirstate import SkipRule, records_after_pass
from reconciler.localfs import path_of, restat
from reconciler.models import DirRecord, LocalFile, WatchDir
from reconciler.scan import Filters, WatchDirError, scan, scan_root

FILTERS = Filters(DEFAULT_EXTENSIONS, DEFAULT_EXCLUDE, recursive=True)


def make(root: Path, *rels: str, data: bytes = b"x") -> None:
    for rel in rels:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def rels(root: Path, filters: Filters = FILTERS) -> list[str]:
    return [f.rel for f in scan(WatchDir(str(root), "p/"), filters).files]


def test_records_hold_a_fresh_stat(tmp_path: Path) -> None:
    make(tmp_path, "Cam1/a.mp4", data=b"0123456789")
    (f,) = scan(WatchDir(str(tmp_path), ""), FILTERS).files
    st = os.stat(tmp_path / "Cam1" / "a.mp4")
    assert f == LocalFile(str(tmp_path), "Cam1/a.mp4", 10, st.st_mtime_ns, st.st_dev, st.st_ino)
    assert path_of(f) == str(tmp_path / "Cam1" / "a.mp4")


def test_extension_filter_is_case_insensitive(tmp_path: Path) -> None:
    make(tmp_path, "a.mp4", "B.MP4", "c.Jpg", "d.DAT", "e.txt", "f.mp4.txt", "noext", "g.mp")
    assert rels(tmp_path) == ["B.MP4", "a.mp4", "c.Jpg", "d.DAT"]


def test_configured_extensions(tmp_path: Path) -> None:
    make(tmp_path, "a.mp4", "b.dav", "c.DAV")
    assert rels(tmp_path, Filters((".dav",), ())) == ["b.dav", "c.DAV"]


def test_exclude_globs_on_name_and_relative_path(tmp_path: Path) -> None:
    make(tmp_path, "~a.mp4", "Cam1/~b.mp4", "ok.mp4", "Cam1/ok.mp4", "private/c.mp4",
         "private/deeper/d.mp4", "Cam1.mp4.tmp", "clip.MP4.Part", "x.mp4")
    filters = Filters((".mp4", ".part", ".tmp"), ("*.part", "~*", "private/*", "*.tmp"))
    result = scan(WatchDir(str(tmp_path), ""), filters)
    assert [f.rel for f in result.files] == ["Cam1/ok.mp4", "ok.mp4", "x.mp4"]
    assert sorted(rel for _, rel in result.excluded) == sorted(
        ["~a.mp4", "Cam1/~b.mp4", "private/c.mp4", "private/deeper/d.mp4", "Cam1.mp4.tmp",
         "clip.MP4.Part"])
    assert {root for root, _ in result.excluded} == {str(tmp_path)}


def test_unwanted_extensions_are_not_reported_as_excluded(tmp_path: Path) -> None:
    make(tmp_path, "clip.mp4.part", "notes.txt")
    result = scan(WatchDir(str(tmp_path), ""), FILTERS)
    assert (result.files, result.excluded) == ([], [])


def test_recursive_false_stays_at_the_top(tmp_path: Path) -> None:
    make(tmp_path, "top.mp4", "Cam1/sub.mp4", "Cam1/deep/deeper.mp4")
    assert rels(tmp_path, Filters(DEFAULT_EXTENSIONS, (), recursive=False)) == ["top.mp4"]
    assert rels(tmp_path, Filters(DEFAULT_EXTENSIONS, (), recursive=True)) == [
        "Cam1/deep/deeper.mp4", "Cam1/sub.mp4", "top.mp4"]


def test_directory_symlinks_are_not_followed(tmp_path: Path) -> None:
    watch, outside = tmp_path / "watch", tmp_path / "outside"
    make(outside, "secret.mp4")
    make(watch, "real/a.mp4")
    (watch / "link").symlink_to(outside, target_is_directory=True)
    (watch / "loop").symlink_to(watch, target_is_directory=True)  # would never end if followed
    assert rels(watch) == ["real/a.mp4"]


def test_file_symlinks_and_dangling_links_are_not_files(tmp_path: Path) -> None:
    make(tmp_path, "real.mp4")
    (tmp_path / "alias.mp4").symlink_to(tmp_path / "real.mp4")
    (tmp_path / "dangling.mp4").symlink_to(tmp_path / "missing.mp4")
    assert rels(tmp_path) == ["real.mp4"]


def test_unicode_and_long_names(tmp_path: Path) -> None:
    names = ["Kamera Büro/Einfahrt 監視.mp4", "café.jpg", unicodedata.normalize("NFD", "né.mp4"),
             "Cam1.20240101_120000.mp4", "sp ace/(1) & [2].mp4"]
    long_dir = "/".join(["d" * 100] * 3)  # the full path is over 300 characters
    long_name = "L" * 240 + ".mp4"
    make(tmp_path, *names, f"{long_dir}/{long_name}")
    found = scan(WatchDir(str(tmp_path), ""), FILTERS).files
    assert sorted(f.rel for f in found) == sorted([*names, f"{long_dir}/{long_name}"])
    for f in found:
        assert restat(f) == f, f.rel
    assert max(len(path_of(f)) for f in found) > 300


def test_sorted_output(tmp_path: Path) -> None:
    make(tmp_path, "b.mp4", "a/z.mp4", "A.mp4", "c/a.mp4", "a.mp4", "B/b.mp4")
    got = rels(tmp_path)
    assert got == sorted(got)
    assert got == ["A.mp4", "B/b.mp4", "a.mp4", "a/z.mp4", "b.mp4", "c/a.mp4"]


def test_missing_watch_dir_raises(tmp_path: Path) -> None:
    with pytest.raises(WatchDirError, match="does not exist"):
        scan(WatchDir(str(tmp_path / "gone"), ""), FILTERS)


def test_watch_dir_that_is_a_file_raises(tmp_path: Path) -> None:
    make(tmp_path, "file.mp4")
    with pytest.raises(WatchDirError, match="not a folder"):
        scan(WatchDir(str(tmp_path / "file.mp4"), ""), FILTERS)


def test_empty_watch_dir_is_not_an_error(tmp_path: Path) -> None:
    result = scan(WatchDir(str(tmp_path), ""), FILTERS)
    assert (result.files, result.excluded, result.warnings) == ([], [], [])


# ---- Windows long paths (the string logic, with windows=True on any OS) ---------------------------
DEEP_REL = "/".join(["camera-folder-name"] * 14) + "/clip.mp4"


def test_scan_root_on_windows_always_carries_the_prefix() -> None:
    assert scan_root(r"C:\BlueIris\New", windows=True) == "\\\\?\\C:\\BlueIris\\New"
    assert scan_root(r"\\nas\cams", windows=True) == "\\\\?\\UNC\\nas\\cams"
    assert scan_root("/srv/cams", windows=False) == "/srv/cams"


def test_deep_folders_scan_on_linux_without_any_prefix(tmp_path: Path) -> None:
    make(tmp_path, DEEP_REL)
    (f,) = scan(WatchDir(str(tmp_path), ""), FILTERS).files
    assert f.rel == DEEP_REL and f.root == str(tmp_path)
    assert os.path.exists(path_of(f)) and restat(f) is not None


# ---- folders that vanish vs folders that cannot be read -------------------------------------------
@pytest.fixture
def log_lines():
    lines: list[str] = []
    handler = logger.add(lambda m: lines.append(str(m)), level="DEBUG", format="{level} {message}")
    yield lines
    logger.remove(handler)


def _scandir_failing(monkeypatch: pytest.MonkeyPatch, failures: dict[str, OSError]) -> None:
    real = os.scandir

    def scandir(path="."):
        for name, exc in failures.items():
            if str(path).endswith(os.sep + name):
                raise exc
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_a_folder_that_vanished_is_logged_as_gone_not_as_unreadable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_lines: list[str]) -> None:
    make(tmp_path, "Cam1/a.mp4", "Cam2/b.mp4")
    _scandir_failing(monkeypatch, {"Cam1": FileNotFoundError(2, "No such file or directory")})
    result = scan(WatchDir(str(tmp_path), ""), FILTERS)
    assert [f.rel for f in result.files] == ["Cam2/b.mp4"]
    assert result.vanished == [str(tmp_path / "Cam1")]
    assert result.warnings == []
    assert any(line.startswith("INFO") and "disappeared" in line and "Cam1" in line for line in log_lines)


def test_a_folder_replaced_by_a_file_counts_as_vanished(tmp_path: Path, monkeypatch) -> None:
    make(tmp_path, "Cam1/a.mp4")
    _scandir_failing(monkeypatch, {"Cam1": NotADirectoryError(20, "Not a directory")})
    result = scan(WatchDir(str(tmp_path), ""), FILTERS)
    assert (result.files, result.vanished, result.warnings) == ([], [str(tmp_path / "Cam1")], [])


def test_an_unreadable_folder_is_a_warning_that_says_what_to_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_lines: list[str]) -> None:
    make(tmp_path, "Cam1/a.mp4", "Cam2/b.mp4")
    _scandir_failing(monkeypatch, {"Cam1": PermissionError(13, "Permission denied")})
    result = scan(WatchDir(str(tmp_path), ""), FILTERS)
    assert [f.rel for f in result.files] == ["Cam2/b.mp4"]
    assert result.vanished == []
    (warning,) = result.warnings
    assert str(tmp_path / "Cam1") in warning and "Permission denied" in warning
    assert "read access" in warning
    assert not any("disappeared" in line for line in log_lines)


def test_the_watch_dir_vanishing_mid_scan_is_an_error_not_every_file_gone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make(tmp_path, "a.mp4")
    calls = []
    real = os.scandir

    def scandir(path="."):
        calls.append(path)
        if len(calls) > 1:  # check_watch_dir saw it; then the share dropped
            raise FileNotFoundError(2, "No such file or directory")
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(WatchDirError, match="disappeared"):
        scan(WatchDir(str(tmp_path), ""), FILTERS)


def _scan_as_nobody(root: str, conn) -> None:  # runs in a forked child
    from reconciler.models import WatchDir
    from reconciler.scan import Filters, scan

    if os.geteuid() == 0:
        os.setgid(65534)
        os.setuid(65534)  # as root every folder is readable; nobody is refused like a user
    result = scan(WatchDir(root, ""), Filters((".mp4",), ()))
    conn.send(([f.rel for f in result.files], result.unreadable, len(result.warnings)))


def test_an_unreadable_subfolder_is_reported_not_taken_for_empty() -> None:
    import multiprocessing
    import shutil
    import tempfile

    # Under /tmp (world-reachable), so the unprivileged child can reach the watch dir itself.
    root = Path(tempfile.mkdtemp(prefix="camup-unreadable-"))
    try:
        os.chmod(root, 0o755)
        (root / "open").mkdir(mode=0o755)
        (root / "open" / "a.mp4").write_bytes(b"a")
        os.chmod(root / "open" / "a.mp4", 0o644)
        (root / "shut").mkdir()
        (root / "shut" / "b.mp4").write_bytes(b"b")
        os.chmod(root / "shut", 0o000)
        ctx = multiprocessing.get_context("fork")
        receive, send = ctx.Pipe()
        child = ctx.Process(target=_scan_as_nobody, args=(str(root), send))
        child.start()
        rels, unreadable, warnings = receive.recv()
        child.join(timeout=30)
    finally:
        os.chmod(root / "shut", 0o755)
        shutil.rmtree(root)

    assert rels == ["open/a.mp4"]
    assert unreadable == [(str(root), "shut/")]
    assert warnings == 1


# ---- the walk: any depth; unchanged quiet folders skipped ------------------------------------------
def test_1100_nested_folders_are_walked_without_recursion_error(tmp_path: Path) -> None:
    levels = [tmp_path]
    for _ in range(1100):  # os.makedirs itself recurses: one level at a time
        levels.append(levels[-1] / "d")
        levels[-1].mkdir()
    (levels[-1] / "deep.mp4").write_bytes(b"x")
    make(tmp_path, "cam1/a.mp4")
    try:
        result = scan(WatchDir(str(tmp_path), ""), FILTERS)
    finally:  # shutil.rmtree (pytest's clean-up of old temp dirs) recurses too: undo it here
        (levels[-1] / "deep.mp4").unlink()
        for level in reversed(levels[1:]):
            level.rmdir()

    assert [f.rel.rsplit("/", 1)[-1] for f in result.files] == ["a.mp4", "deep.mp4"]
    assert result.warnings == []
    assert result.files[1].rel.count("/") == 1100


def _old(path: Path, age_s: float = 10 * 3600) -> None:
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))


def _records(root: Path, result, done_all: bool = True) -> dict[str, DirRecord]:
    done = {f.id for f in result.files} if done_all else set()
    return {r.rel_dir: r for r in records_after_pass(result.listed, result.files, done, time.time_ns())}


def test_a_skipping_walk_lists_only_changed_folders_and_still_visits_subfolders(tmp_path: Path) -> None:
    make(tmp_path, "cam1/d1/h1/a.mp4", "cam1/d1/h2/b.mp4", "cam2/d1/h1/c.mp4")
    for p in sorted(tmp_path.rglob("*"), key=lambda p: -len(p.parts)):
        _old(p)
    _old(tmp_path)
    watch = WatchDir(str(tmp_path), "")
    first = scan(watch, FILTERS, (None, {}))  # a full sweep records every folder
    known = _records(tmp_path, first)
    assert set(known) == {"", "cam1/", "cam1/d1/", "cam1/d1/h1/", "cam1/d1/h2/", "cam2/", "cam2/d1/",
                          "cam2/d1/h1/"}
    rule = SkipRule(now_ns=time.time_ns(), quiet_ns=2 * 3600 * 10**9)

    idle = scan(watch, FILTERS, (rule, known))
    assert idle.files == [] and idle.listed == {} and idle.skipped_files == 3
    assert len(idle.skipped) == 8

    make(tmp_path, "cam1/d1/h2/new.mp4")  # a new file in an old folder deep in a skipped tree
    after = scan(watch, FILTERS, (rule, known))
    assert [f.rel for f in after.files] == ["cam1/d1/h2/b.mp4", "cam1/d1/h2/new.mp4"]
    assert list(after.listed) == ["cam1/d1/h2/"]


def test_a_folder_whose_files_are_not_all_uploaded_is_listed(tmp_path: Path) -> None:
    make(tmp_path, "cam1/a.mp4")
    for p in (tmp_path / "cam1" / "a.mp4", tmp_path / "cam1", tmp_path):
        _old(p)
    watch = WatchDir(str(tmp_path), "")
    known = _records(tmp_path, scan(watch, FILTERS, (None, {})), done_all=False)
    rule = SkipRule(now_ns=time.time_ns(), quiet_ns=0)
    again = scan(watch, FILTERS, (rule, known))
    assert [f.rel for f in again.files] == ["cam1/a.mp4"] and again.skipped == [""]


def test_a_folder_changed_just_before_its_listing_is_not_trusted(tmp_path: Path) -> None:
    make(tmp_path, "cam1/a.mp4")  # folder mtimes: now, as at the listing (git's racy case)
    watch = WatchDir(str(tmp_path), "")
    known = _records(tmp_path, scan(watch, FILTERS, (None, {})))
    rule = SkipRule(now_ns=time.time_ns(), quiet_ns=0)
    again = scan(watch, FILTERS, (rule, known))
    assert again.skipped == [] and [f.rel for f in again.files] == ["cam1/a.mp4"]
