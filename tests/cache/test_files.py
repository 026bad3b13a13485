"""``cache.files``: folders appear and go whole, reads name their file, the write check is real."""

import errno

import polars as pl
import pytest

from cache.files import (
    CorruptFileError,
    discard_path,
    is_not_writable,
    reading,
    remove_path,
    replace_dir,
    writable_problem,
)


def _folder(path, text="x"):
    path.mkdir(parents=True)
    (path / "f").write_text(text)
    return path


def test_replace_dir_swaps_the_folder_whole_and_leaves_nothing_beside(tmp_path):
    final = _folder(tmp_path / "run", "old")
    replace_dir(_folder(tmp_path / ".run.tmp-1", "new"), final)
    assert (final / "f").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    replace_dir(_folder(tmp_path / ".run.tmp-2", "first"), tmp_path / "fresh")
    assert (tmp_path / "fresh" / "f").read_text() == "first"


def test_discard_path_removes_a_link_never_its_target(tmp_path):
    target = _folder(tmp_path / "kept")
    (tmp_path / "runs").mkdir()
    link = tmp_path / "runs" / "0123456789abcdef"
    link.symlink_to(target, target_is_directory=True)
    assert discard_path(link) is True
    assert list((tmp_path / "runs").iterdir()) == [] and (target / "f").is_file()
    assert discard_path(link) is False  # already gone


def test_remove_path_takes_files_folders_and_what_is_not_there(tmp_path):
    remove_path(_folder(tmp_path / "d"))
    (tmp_path / "file").write_text("x")
    remove_path(tmp_path / "file")
    remove_path(tmp_path / "nothing")
    remove_path(tmp_path / "file" / "under-a-file")
    assert list(tmp_path.iterdir()) == []


def test_the_write_check_leaves_nothing_behind(tmp_path):
    assert writable_problem(tmp_path / "runs") is None  # not there yet: its parent is tried
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "runs").mkdir()
    assert writable_problem(tmp_path / "runs") is None
    assert list((tmp_path / "runs").iterdir()) == []


def test_the_write_check_says_why_writes_fail(tmp_path):
    (tmp_path / "runs").write_text("a file where a folder should be (refused even to root)")
    problem = writable_problem(tmp_path / "runs" / "inner")
    assert problem == f"cannot write to {tmp_path / 'runs' / 'inner'}: Not a directory"


@pytest.mark.parametrize(
    ("code", "refused"),
    [(errno.EROFS, True), (errno.EACCES, True), (errno.ENOSPC, True), (errno.EIO, False)],
)
def test_which_os_errors_mean_a_refused_write(code, refused):
    assert is_not_writable(OSError(code, "x")) is refused


def test_reading_names_the_file_of_a_polars_or_os_error(tmp_path):
    path = tmp_path / "BTC_1h.parquet"
    path.write_bytes(b"PAR1 and then nothing")
    with pytest.raises(CorruptFileError) as err, reading(path):
        pl.read_parquet(path)
    assert str(err.value).startswith(f"{path}: cannot be read (") and err.value.path == path
    with pytest.raises(CorruptFileError, match="No such file"), reading(path):
        (tmp_path / "gone").read_bytes()
