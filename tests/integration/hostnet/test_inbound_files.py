"""Files from the host network: taken in once, moved only after commit, duplicates refused."""

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.hostnet.inbound import FileOutcome, InboundFolder, poll_folder, take_in_file, write_atomically
from engine.store.schema import causes, inbound_files


def make_folder(tmp_path: Path) -> InboundFolder:
    return InboundFolder("test", tmp_path / "in", tmp_path / "processed", tmp_path / "rejected")


def cause_loader(connection, path, rejects):
    """A toy handler: each line `code,name` becomes a cause; other lines are rejected."""
    from datetime import datetime, timezone

    stored = 0
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split(",")
        if len(parts) != 2 or not parts[0]:
            rejects.reject(number, "expected 2 fields: code,name", line)
            continue
        connection.execute(causes.insert().values(code=parts[0], name=parts[1], created_at=datetime.now(timezone.utc)))
        stored += 1
    if stored == 0 and rejects.count == 0:
        return FileOutcome(refused="empty file (expected at least one line)")
    return FileOutcome(summary={"stored": stored})


def count(database, table):
    with database.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_file_is_processed_once_and_moved_after_commit(database, tmp_path):
    folder = make_folder(tmp_path)
    write_atomically(folder.inbox / "causes-001.csv", ["water,Clean Water\n", "bad line\n", "trees,Trees\n"])

    [result] = poll_folder(database, folder, cause_loader)

    assert result.status == "processed"
    assert result.summary == {"stored": 2, "rejected": 1}
    assert count(database, causes) == 2
    assert (folder.processed / "causes-001.csv").exists()
    assert not (folder.inbox / "causes-001.csv").exists()
    with open(folder.rejected / "causes-001.csv.rejects.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["line_number", "reason", "line"], ["2", "expected 2 fields: code,name", "bad line"]]
    assert poll_folder(database, folder, cause_loader) == []


def test_same_content_under_another_name_is_refused_as_duplicate(database, tmp_path):
    folder = make_folder(tmp_path)
    write_atomically(folder.inbox / "a.csv", ["water,Clean Water\n"])
    poll_folder(database, folder, cause_loader)
    write_atomically(folder.inbox / "b.csv", ["water,Clean Water\n"])

    [result] = poll_folder(database, folder, cause_loader)

    assert result.status == "duplicate"
    assert "as test file a.csv taken in before" in result.reason
    assert count(database, causes) == 1
    assert (folder.rejected / "b.csv").exists()
    assert "duplicate" in (folder.rejected / "b.csv.reason").read_text()


def test_crash_after_commit_before_move_is_finished_not_repeated(database, tmp_path):
    folder = make_folder(tmp_path)
    path = write_atomically(folder.inbox / "a.csv", ["water,Clean Water\n"])
    take_in_file(database, folder, path, cause_loader)
    # Simulate the crash: the file is back in the inbox although its records were committed.
    (folder.processed / "a.csv").rename(path)

    [result] = poll_folder(database, folder, cause_loader)

    assert result.status == "recovered"
    assert count(database, causes) == 1
    assert (folder.processed / "a.csv").exists()


def test_failure_during_processing_stores_nothing_and_leaves_the_file(database, tmp_path):
    folder = make_folder(tmp_path)
    path = write_atomically(folder.inbox / "a.csv", ["water,Clean Water\n", "trees,Trees\n"])

    def crashing(connection, file_path, rejects):
        cause_loader(connection, file_path, rejects)
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        take_in_file(database, folder, path, crashing)

    assert count(database, causes) == 0
    assert count(database, inbound_files) == 0
    assert path.exists()
    [result] = poll_folder(database, folder, cause_loader)
    assert result.status == "processed" and count(database, causes) == 2


def test_a_refused_file_rolls_back_and_goes_to_rejected_with_its_reason(database, tmp_path):
    folder = make_folder(tmp_path)
    write_atomically(folder.inbox / "empty.csv", [])

    [result] = poll_folder(database, folder, cause_loader)

    assert result.status == "refused"
    assert count(database, inbound_files) == 0
    assert (folder.rejected / "empty.csv.reason").read_text().strip() == "empty file (expected at least one line)"


def test_files_being_written_are_not_picked_up(tmp_path):
    folder = make_folder(tmp_path)
    folder.inbox.mkdir(parents=True)
    for name in (".a.csv.tmp", "b.csv.part", "c.csv"):
        (folder.inbox / name).write_text("x")
    assert [path.name for path in folder.pending_files()] == ["c.csv"]
