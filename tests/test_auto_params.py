"""Which top-level assignments of a %%track cell become params: settings yes, state no."""

from __future__ import annotations

import pytest

from jupyter_tracker.capture.auto_params import literal_assignments


def test_scalars_and_short_sequences_of_scalars_are_settings():
    code = "lr = 0.1\nlayers = (64, 32)\nname = 'rf'\nflag: bool = True\nseed = None\nsizes = [1, 2, 3]"
    assert literal_assignments(code) == {"lr": 0.1, "layers": (64, 32), "name": "rf", "flag": True,
                                         "seed": None, "sizes": [1, 2, 3]}


@pytest.mark.parametrize("code", [
    "results = {}\nresults['a'] = 1",            # empty container filled later
    "history = []\nhistory.append(1)",           # mutated by a method
    "count = 0\nfor i in range(3):\n    count += 1",
    "best = 0.0\nfor best in [1, 2]:\n    pass",   # rebound by a loop
    "x = 1\nx = compute()",                       # rebound to something computed
    "x = 1\ndel x",
    "cfg = {'lr': 0.1}",                          # dicts and sets are not single settings
    "ids = {1, 2}",
    "data = list(range(3))",                      # not a literal
    "long = " + repr(list(range(100))),           # data, not a setting
    "text = " + repr("x" * 1000),
    "nested = [1, [2]]",
    "_private = 1",
    "state = 1\ndef bump():\n    global state\n    state = 2",
    "obj = 1\nobj.attr = 2",
])
def test_state_and_data_are_not_params(code):
    assert literal_assignments(code) == {}


def test_a_later_top_level_literal_wins_as_it_does_when_the_cell_runs():
    assert literal_assignments("lr = 0.1\nlr = 0.01") == {"lr": 0.01}


def test_code_that_does_not_parse_has_no_params():
    assert literal_assignments("lr = (") == {}
