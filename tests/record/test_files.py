import pytest

from record.files import atomic_path


@pytest.mark.parametrize("fsync", [False, True])
def test_atomic_path_replaces_on_success_and_keeps_the_old_file_on_failure(tmp_path, fsync):
    target = tmp_path / "sub" / "state.bin"
    with atomic_path(target, fsync=fsync) as tmp:
        assert not target.exists()
        tmp.write_bytes(b"first")
    assert target.read_bytes() == b"first"
    with pytest.raises(RuntimeError), atomic_path(target, fsync=fsync) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"first"
    assert [p.name for p in target.parent.iterdir()] == ["state.bin"]
