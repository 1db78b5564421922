"""The living archive: what circles learn, kept, searchable and cross-referenced.

- `core.archive.text`: pure rules (words, `+[Actor]` markers, name similarity, queries);
- `core.archive.search`: full text on SQLite FTS5 and PostgreSQL, one function;
- `core.archive.service`: entries, actors, merges, withdrawal, erasure, export;
- `core.archive.crossref`: actors seen by several circles (rows, CSV, chart);
- `core.archive.wages`: wage comparison across circles.
"""
from core.archive.search import Filters, search_entry_ids
from core.archive.service import ArchiveErasure, ArchiveProblem, erase_person_archive

__all__ = ["ArchiveErasure", "ArchiveProblem", "Filters", "erase_person_archive",
           "search_entry_ids"]
