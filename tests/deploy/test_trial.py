"""Trial passwords: made once, private to the owner, replaceable by the operator."""

from __future__ import annotations

import stat

import pytest

from hubdist import trial


def test_a_new_password_is_random_long_enough_and_private(tmp_path):
    path = tmp_path / "pw"

    made = trial.load_or_create(path, 18, 8)
    other = trial.load_or_create(tmp_path / "other", 18, 8)

    assert made.created and len(made.value) >= 24
    assert made.value != other.value
    assert path.read_text() == made.value + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_existing_password_is_kept_even_one_the_operator_wrote(tmp_path):
    path = tmp_path / "pw"
    path.write_text("  my own choice  \n")

    kept = trial.load_or_create(path, 18, 8)

    assert (kept.value, kept.created) == ("my own choice", False)


def test_a_too_short_password_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "pw"
    path.write_text("short\n")

    with pytest.raises(trial.TrialError, match="shorter than 8 characters.*delete it"):
        trial.load_or_create(path, 18, 8)
