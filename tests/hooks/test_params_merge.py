"""params.yaml merged key by key: each key from the side that changed it, comments and layout from ours, and a
real conflict only where both sides set one key to different values."""

from __future__ import annotations

import pytest

from hooks.params_merge import merge

BASE = """\
seed: 42
train:
  model: logreg   # logreg | hgb
  logreg:
    C: 0.01       # inverse regularisation
    max_iter: 2000
evaluate:
  importance_rows: 2000
"""


def edited(*changes: tuple[str, str]) -> bytes:
    text = BASE
    for old, new in changes:
        assert old in text
        text = text.replace(old, new, 1)
    return text.encode()


C = ("C: 0.01 ", "C: 0.02 ")
ITERATIONS = ("max_iter: 2000", "max_iter: 1500")


def test_neighbouring_keys_changed_by_each_side_merge_with_our_comments():
    result = merge(BASE.encode(), edited(C), edited(ITERATIONS))
    assert result.conflicts == [] and result.taken == ["train.logreg.max_iter"]
    assert result.text == edited(C, ITERATIONS).decode()


def test_a_key_both_sides_changed_differently_is_named_as_the_conflict():
    result = merge(BASE.encode(), edited(C), edited(("C: 0.01 ", "C: 0.05 "), ITERATIONS))
    assert result.text is None and result.conflicts == ["train.logreg.C"]


def test_one_value_on_both_sides_is_no_conflict():
    result = merge(BASE.encode(), edited(C, ("seed: 42", "seed: 7")), edited(C, ITERATIONS))
    assert result.text == edited(C, ("seed: 42", "seed: 7"), ITERATIONS).decode()


def test_a_change_of_type_alone_is_a_change():
    """The stages read params strictly by type: 2000 and 2000.0 are two values, so both sides changed max_iter."""
    result = merge(BASE.encode(), edited(("max_iter: 2000", "max_iter: 2000.0")), edited(ITERATIONS))
    assert result.text is None and result.conflicts == ["train.logreg.max_iter"]


def test_a_key_they_added_lands_after_the_key_it_follows_and_a_key_they_removed_goes():
    theirs = edited(("    max_iter: 2000\n", "    max_iter: 2000\n    tol: 0.001\n"), ("seed: 42\n", ""))
    result = merge(BASE.encode(), edited(C), theirs)
    assert sorted(result.taken) == ["seed", "train.logreg.tol"]
    assert (
        result.text
        == edited(C, ("    max_iter: 2000\n", "    max_iter: 2000\n    tol: 0.001\n"), ("seed: 42\n", "")).decode()
    )


@pytest.mark.parametrize(
    "theirs",
    [
        b"train: [unclosed\n",  # not YAML
        BASE.replace("seed: 42", "seed: 010").encode(),  # read as 8 by the stages, 10 by DVC
        b"\xff\xfe not UTF-8\n",
        b"- a list, not a mapping of params\n",
    ],
)
def test_a_version_that_is_not_readable_params_is_left_to_git(theirs):
    result = merge(BASE.encode(), edited(C), theirs)
    assert result.text is None and result.conflicts == []


def test_their_change_next_to_our_comment_keeps_both():
    ours = edited(("C: 0.01       # inverse regularisation", "C: 0.01       # inverse regularisation, tuned below"))
    result = merge(BASE.encode(), ours, edited(ITERATIONS))
    assert result.taken == ["train.logreg.max_iter"]
    assert result.text == ours.decode().replace(*ITERATIONS)
