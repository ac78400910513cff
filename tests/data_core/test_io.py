"""Atomic output files."""

from data_core.io import write_text


def test_atomic_writes_get_normal_file_modes(tmp_path):
    write_text(tmp_path / "out.txt", "x")
    assert (tmp_path / "out.txt").stat().st_mode & 0o044 == 0o044  # group/other can read
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temp file left behind
