"""Pure rules: words, +[Actor] markers, options, name similarity, queries."""
from __future__ import annotations

import pytest

from core.archive.text import (
    BadQuery, alias_key, find_known, find_markers, fts5_query, parse_query, similarity,
    split_options, tsquery, unmark, words,
)


def test_markers_are_found_once_and_shown_plainly():
    text = "+[Amazon.com Inc] pays pickers less than +[ amazon ] in Berlin; +[DHL] too"
    assert find_markers(text) == ["Amazon.com Inc", "amazon", "DHL"]
    assert unmark(text).startswith("Amazon.com Inc pays pickers less than amazon in Berlin")


def test_options_leave_the_testimony_intact():
    rest, opts = split_options("we don't get paid tags=a,b visibility=network ratio=3:1 "
                               'place="São Paulo"', {"tags", "visibility", "place"})
    assert rest == "we don't get paid ratio=3:1"
    assert opts == {"tags": "a,b", "visibility": "network", "place": "São Paulo"}


def test_words_are_the_same_tokens_for_every_script():
    assert words("Supply-chain: AMAZON.com, São Paulo; İşçi 12.50€") == [
        "supply", "chain", "amazon", "com", "sao", "paulo", "isci", "12", "50"]
    assert words("İŞÇİ") == words("işçi") == words("isci")
    assert words("मजदूर की मजदूरी") == ["मजदूर", "की", "मजदूरी"]


@pytest.mark.parametrize("a,b,reason", [
    ("Amazon", "Amazon.com Inc", "same"),
    ("Amazon", "AMZN", "abbreviation"),
    ("International Organization for Migration", "IOM", "abbreviation"),
    ("Amazon", "Amazone", "spelling"),
])
def test_near_duplicates_score_high(a, b, reason):
    score, why = similarity(a, b)
    assert score >= 0.8 and why == reason


@pytest.mark.parametrize("a,b", [("Amazon", "Zalando"), ("DHL", "Deutsche Bank"),
                                 ("HSBC", "Amazon")])
def test_different_actors_score_low(a, b):
    assert similarity(a, b)[0] < 0.8


def test_alias_keys_ignore_case_and_spacing_only():
    assert alias_key(" Amazon  ") == alias_key("AMAZON") == "amazon"
    assert alias_key("Amazon.com Inc") != alias_key("Amazon")


def test_known_spellings_match_on_word_boundaries_longest_first():
    aliases = {("amazon",): 1, ("amazon", "com", "inc"): 2, ("amzn",): 1}
    assert find_known("Pickers at Amazon.com Inc struck", aliases) == {2}
    assert find_known("AMZN and amazon", aliases) == {1}
    assert find_known("Amazonas river", aliases) == set()
    assert find_known("+[Amazon] again", aliases) == set()  # a marker is not re-matched


def test_queries_mean_the_same_on_both_backends():
    terms = parse_query('lohn "supply chain" pick* -amazon')
    assert fts5_query(terms) == '"lohn" AND "supply chain" AND "pick"* NOT "amazon"'
    assert tsquery(terms) == "'lohn' & ('supply' <-> 'chain') & 'pick':* & !'amazon'"
    with pytest.raises(BadQuery):
        parse_query("-amazon")
