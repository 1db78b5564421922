"""Cross-reference ranking on a hand-made fixture, and the chart's layout."""
from __future__ import annotations

from core.archive.crossref import MentionRow, layout, rank, render_chart, to_csv


def row(actor_id, actor, entry, circle_id, circle, country):
    return MentionRow(actor_id, actor, entry, circle_id, circle, country)


FIXTURE = [
    # Amazon: 3 circles in 3 countries, 4 entries
    row(1, "Amazon", 10, 1, "Berlin", "DE"), row(1, "Amazon", 11, 1, "Berlin", "DE"),
    row(1, "Amazon", 20, 2, "Lagos", "NG"), row(1, "Amazon", 30, 3, "Chicago", "US"),
    # DHL: 2 circles, 2 countries, 3 entries
    row(2, "DHL", 12, 1, "Berlin", "DE"), row(2, "DHL", 21, 2, "Lagos", "NG"),
    row(2, "DHL", 22, 2, "Lagos", "NG"),
    # Blackrock: 2 circles, 2 countries, 2 entries (ties DHL on places, loses on entries)
    row(3, "Blackrock", 13, 1, "Berlin", "DE"), row(3, "Blackrock", 31, 3, "Chicago", "US"),
    # Local Bakery: 2 entries, one circle -> not a cross-reference
    row(4, "Local Bakery", 14, 1, "Berlin", "DE"), row(4, "Local Bakery", 15, 1, "Berlin", "DE"),
    # Zalando: two circles in the same country (Berlin, Hamburg): counts, ranks after
    row(5, "Zalando", 16, 1, "Berlin", "DE"), row(5, "Zalando", 40, 4, "Hamburg", "DE"),
]


def test_ranking_by_countries_then_circles_then_entries():
    refs = rank(FIXTURE)
    assert [r.actor for r in refs] == ["Amazon", "DHL", "Blackrock", "Zalando"]
    amazon = refs[0]
    assert amazon.countries == {"DE", "NG", "US"} and amazon.entry_count == 4
    assert amazon.entries == {1: [10, 11], 2: [20], 3: [30]}
    assert refs[1].entry_ids == [12, 21, 22]


def test_a_mention_counted_once_per_entry():
    refs = rank(FIXTURE + [row(2, "DHL", 22, 2, "Lagos", "NG")])
    assert refs[1].entry_count == 3


def test_csv_lists_rank_and_evidence():
    lines = to_csv(rank(FIXTURE)).splitlines()
    assert lines[0] == "rank,actor,kind,countries,circles,entries,entry_ids"
    assert lines[1] == "1,Amazon,company,DE NG US,Berlin; Chicago; Lagos,4,10 11 20 30"


def test_bipartite_layout_puts_circles_left_and_actors_right_in_rank_order():
    lay = layout(rank(FIXTURE))
    assert [name for name, _ in lay.actors] == ["Amazon", "DHL", "Blackrock", "Zalando"]
    ys = [y for _, y in lay.actors]
    assert ys == sorted(ys, reverse=True) and all(0 < y < 1 for y in ys)
    assert {name for name, _ in lay.circles} == {"Berlin", "Lagos", "Chicago", "Hamburg"}
    assert len(lay.edges) == 9  # one per (circle, actor) pair
    assert max(n for *_, n in lay.edges) == 2  # Berlin's two Amazon entries


def test_chart_is_a_png():
    png = render_chart(rank(FIXTURE), "Test")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
