"""The instance lock's files: private to their owner (issue 8 item 14)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.lock import AlreadyRunning, InstanceLock


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_state_dir_0700_and_lock_files_0600_whatever_the_umask(tmp_path: Path) -> None:
    state = tmp_path / "state"
    old = os.umask(0)
    try:
        with InstanceLock(str(state)):
            modes = {p.name: oct(p.stat().st_mode & 0o777) for p in state.iterdir()}
            dir_mode = oct(state.stat().st_mode & 0o777)
    finally:
        os.umask(old)
    assert dir_mode == oct(0o700)
    assert modes == {"camup.lock": oct(0o600), "camup.lock.owner": oct(0o600)}


def test_a_second_holder_is_refused(tmp_path: Path) -> None:
    with InstanceLock(str(tmp_path)), pytest.raises(AlreadyRunning):
        InstanceLock(str(tmp_path)).__enter__()
