"""Full-text search gives the same entries, in the same order, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from core.archive import service as svc
from core.archive.search import Filters, search_entry_ids
from core.storage import make_engine, unit_of_work, upgrade
from core.storage.models import Circle, Network, Person

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)

ENTRIES = [  # (circle, kind, visibility, date, text, tags)
    ("berlin", "testimony", "network", "2026-10-01",
     "Das Lager von +[Amazon] zahlt den Lohn nicht; Kolleg*innen streiken.", ["wages"]),
    ("lagos", "testimony", "network", "2026-10-05",
     "Pickers at +[Amazon.com Inc] in Lagos lost two days' pay. See jobs.example.org/lagos", ["wages"]),
    ("lagos", "supply_chain", "network", "2026-10-07",
     "Supply-chain note: +[DHL] trucks carry the parcels from the port.", ["logistics"]),
    ("istanbul", "legal", "public", "2026-10-09",
     "İşçiler +[Amazon] deposunda sendika kurdu; avukat ücretsiz.", ["union"]),
    ("berlin", "testimony", "circle", "2026-10-11",
     "Geheime Notiz über +[Amazon] Streikbrecher.", ["secret"]),
    ("istanbul", "note", "network", "2026-10-12",
     "Café workers at +[Starbucks] organise.", []),
    ("lagos", "report", "network", "2026-10-15",
     "मजदूर की मजदूरी is late again at the +[DHL] hub.", []),
]

QUERIES = [  # (query, filters, expected entry ids in order; entries numbered from 1)
    ("lohn", {}, [1]),
    ("amazon", {}, [4, 2, 1]),  # newest first; #5 is Berlin's own
    ("amazon", {"circle_id": "berlin"}, [5, 4, 2, 1]),
    ("amazon", {"public_only": True}, [4]),
    ("amaz*", {}, [4, 2, 1]),
    ('"two days"', {}, [2]),
    ('"days two"', {}, []),
    ("supply-chain", {}, [3]),
    ("chain", {}, [3]),
    ("example", {}, [2]),  # inside a URL: both backends see the same words
    ("café", {}, [6]),
    ("cafe", {}, [6]),
    ("işçiler", {}, [4]),
    ("İŞÇİLER", {}, [4]),
    ("isciler", {}, [4]),  # typed without a Turkish keyboard
    ("मजदूरी", {}, [7]),
    ("dhl -port", {}, [7]),
    ("", {"tag": "wages"}, [2, 1]),
    ("", {"country": "NG"}, [7, 3, 2]),
    ("", {"kind": "testimony", "since": date(2026, 10, 2)}, [2]),
    ("amazon", {"until": date(2026, 10, 4)}, [1]),
    ("streikbrecher", {}, []),
    ("streikbrecher", {"circle_id": "berlin"}, [5]),
    ("", {"actor": "Amazon"}, [4, 1]),  # before the merge: Amazon.com Inc is another actor
]


def _seed(session):
    founder = Person(display_name="Founder", created_at=NOW)
    session.add(founder)
    session.flush()
    net = Network(name="Couriers", created_at=NOW, created_by=founder.id)
    session.add(net)
    session.flush()
    circles = {}
    for name, country, lang in (("berlin", "DE", "de"), ("lagos", "NG", "en"),
                                ("istanbul", "TR", "tr")):
        c = Circle(network_id=net.id, name=name.capitalize(), city=name.capitalize(),
                   country=country, timezone="UTC", language=lang, platform="console",
                   chat_id=name, active_from=NOW)
        session.add(c)
        session.flush()
        circles[name] = c
    for circle, kind, vis, day, text, tags in ENTRIES:
        c = circles[circle]
        svc.add_entry(session, circle=c, author_id=founder.id, kind=kind, text=text,
                      language=c.language, visibility=vis, occurred_on=date.fromisoformat(day),
                      now=NOW, tags=tags)
    return net, circles


def _run(session, net, circles, query, filters):
    f = Filters(network_id=net.id)
    for k, v in filters.items():
        if k == "circle_id":
            v = circles[v].id
        if k == "actor":
            k, v = "actor_id", svc.find_actor(session, net.id, v).id
        setattr(f, k, v)
    return search_entry_ids(session, query, f)


@pytest.fixture
def seeded(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    with unit_of_work(engine) as s:
        net, circles = _seed(s)
    yield engine, net, circles
    engine.dispose()


def test_same_results_on_both_databases(seeded):
    engine, net, circles = seeded
    with unit_of_work(engine) as s:
        got = [_run(s, net, circles, q, f) for q, f, _ in QUERIES]
    assert got == [expected for _, _, expected in QUERIES]


def test_merging_and_withdrawing_update_the_index(seeded):
    engine, net, circles = seeded
    with unit_of_work(engine) as s:
        keep = svc.find_actor(s, net.id, "Amazon")
        fold = svc.find_actor(s, net.id, "Amazon.com Inc")
        svc.merge_actors(s, keep, fold, None, NOW)
        svc.add_alias(s, net.id, keep, "AMZN", None, NOW)
    with unit_of_work(engine) as s:
        assert _run(s, net, circles, "", {"actor": "AMZN"}) == [4, 2, 1]
        assert _run(s, net, circles, "amzn", {}) == [4, 2, 1]  # spellings are indexed too
        svc.withdraw_entry(s, 2, s.get(Person, 1).id, NOW)
    with unit_of_work(engine) as s:
        assert _run(s, net, circles, "pickers", {}) == []
        assert _run(s, net, circles, "amazon", {}) == [4, 1]
