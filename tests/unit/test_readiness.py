"""How often the hub asks starting servers whether they answer (pure logic)."""

import pytest

from hubdist.spawners.readiness import ask_interval, waiting_for_an_answer


def test_a_lone_start_is_asked_every_50_ms_and_a_storm_every_200():
    assert ask_interval(1) == ask_interval(2) == 0.05
    assert ask_interval(50) == ask_interval(500) == 0.2


def test_all_the_asking_together_stays_at_40_a_second_until_the_slowest_interval():
    for waiting in range(2, 9):
        assert waiting / ask_interval(waiting) == pytest.approx(40)


def test_the_count_follows_the_starts_waiting_also_when_one_fails():
    before = ask_interval()
    with waiting_for_an_answer():
        with pytest.raises(RuntimeError), waiting_for_an_answer():
            assert ask_interval() == ask_interval(2)
            raise RuntimeError("the server died")
        assert ask_interval() == ask_interval(1)
    assert ask_interval() == before
