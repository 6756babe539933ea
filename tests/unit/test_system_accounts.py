"""Which uid counts as a person's: UID_MIN from login.defs, as useradd reads it."""

from __future__ import annotations

from hubdist.spawners.systemuser import login_defs_uid_min


def test_uid_min_is_read_from_login_defs(tmp_path):
    defs = tmp_path / "login.defs"
    defs.write_text("# comment\nUID_MIN 500\n#UID_MIN 7\nUID_MAX\t\t60000\n")
    assert login_defs_uid_min(str(defs)) == 500


def test_without_login_defs_or_uid_min_it_is_1000(tmp_path):
    assert login_defs_uid_min(str(tmp_path / "missing")) == 1000
    (tmp_path / "empty").write_text("UID_MIN\n")
    assert login_defs_uid_min(str(tmp_path / "empty")) == 1000
