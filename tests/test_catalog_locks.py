"""Several processes on one catalog: a command run beside the server never takes away the
server's SQLite locks, so it never deletes the write-ahead log the server is writing into."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from index.catalog.store import CatalogStore
from index.errors import CatalogError

ROOT = Path(__file__).resolve().parents[1]

# A server-like process: two connections to one catalog (the watcher's and a chat thread's),
# then one write on request, then it waits to be killed (no checkpoint at exit).
SERVER = textwrap.dedent(
    """
    import sys
    from index.catalog.store import CatalogStore
    first = CatalogStore(sys.argv[1])
    second = CatalogStore(sys.argv[1])
    second.meta("catalog_id")
    print("ready", flush=True)
    sys.stdin.readline()
    with first.transaction():
        first.set_meta("named", "Alice")
    print("written", flush=True)
    sys.stdin.readline()
    """
)

# A command beside it (stats, people, name): opens the catalog, reads, closes.
COMMAND = textwrap.dedent(
    """
    import sys
    from index.catalog.store import CatalogStore
    store = CatalogStore(sys.argv[1])
    store.meta("catalog_id")
    store.close()
    """
)


def python(code: str, data: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, str(data)], cwd=ROOT, text=True, **kwargs)


def test_a_command_beside_the_server_leaves_its_write_ahead_log_and_its_writes(tmp_path):
    data = tmp_path / "data"
    CatalogStore(data).close()
    server = python(SERVER, data, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert server.stdout.readline().strip() == "ready"
        assert python(COMMAND, data).wait(timeout=60) == 0
        server.stdin.write("write\n")
        server.stdin.flush()
        assert server.stdout.readline().strip() == "written"
        wal = data / "catalog.sqlite-wal"
        assert wal.exists(), "the command deleted the server's write-ahead log"
        held = {
            os.path.realpath(f"/proc/{server.pid}/fd/{fd}")
            for fd in os.listdir(f"/proc/{server.pid}/fd")
        }
        assert str(wal.resolve()) in held
    finally:
        server.send_signal(signal.SIGKILL)  # a crash: nothing checkpointed at exit
        server.wait(timeout=30)
    with sqlite3.connect(data / "catalog.sqlite") as conn:
        row = conn.execute("SELECT value FROM meta WHERE key='named'").fetchone()
    assert row == ("Alice",), "the server's committed write was lost"


def garbage_header(data: Path) -> None:
    with open(data / "catalog.sqlite", "r+b") as f:
        f.write(os.urandom(100))


def test_a_damaged_header_is_still_refused_by_a_process_holding_another_catalog(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    CatalogStore(bad).close()
    garbage_header(bad)
    held = CatalogStore(good)
    try:
        with pytest.raises(CatalogError, match="damaged"):
            CatalogStore(bad)
    finally:
        held.close()


def test_once_its_last_connection_closed_the_header_is_checked_again(tmp_path):
    first, second = CatalogStore(tmp_path), CatalogStore(tmp_path)
    first.close()
    second.close()
    second.close()  # closing twice counts once
    garbage_header(tmp_path)
    with pytest.raises(CatalogError, match="not an SQLite database"):
        CatalogStore(tmp_path)


# A process that commits and dies before any checkpoint: its changes live in the log only.
CRASH_AFTER_COMMIT = textwrap.dedent(
    """
    import os, sys
    from index.catalog.store import CatalogStore
    store = CatalogStore(sys.argv[1])
    store.conn.execute("PRAGMA wal_autocheckpoint=0")
    with store.transaction():
        store.set_meta("named", "Alice")
    os._exit(0)
    """
)


def test_a_damaged_write_ahead_log_is_reported_not_silently_dropped(tmp_path):
    CatalogStore(tmp_path).close()
    assert python(CRASH_AFTER_COMMIT, tmp_path).wait(timeout=60) == 0
    wal = tmp_path / "catalog.sqlite-wal"
    assert wal.stat().st_size > 32
    with open(wal, "r+b") as f:
        f.write(b"\0" * 8)
    with pytest.raises(CatalogError, match="write-ahead log catalog.sqlite-wal is damaged"):
        CatalogStore(tmp_path)


def test_a_whole_write_ahead_log_gives_back_its_changes(tmp_path):
    CatalogStore(tmp_path).close()
    assert python(CRASH_AFTER_COMMIT, tmp_path).wait(timeout=60) == 0
    store = CatalogStore(tmp_path)
    assert store.meta("named") == "Alice"
    store.close()
