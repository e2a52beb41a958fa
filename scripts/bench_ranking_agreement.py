"""How often an approximate backend's hotel ranking is the exact one's (what a page shows).

    DATABASE_URL=... MATCHER_INDEX_BACKEND=matcher.indexes.graph.GraphIndex \
        .venv/bin/python manage.py shell < scripts/bench_ranking_agreement.py

On a gallery loaded by `manage.py bench_index --images 1000000 --spectrum decaying`:
20 new queries, each ranked by the configured backend and by the exact index; prints
the share of queries whose top-10 hotels, shown matches (each hotel's best photos)
and top-5 chains are the same. Recall@100 says how many neighbours an index finds;
this says whether an investigator would see a difference. Figures in
docs/benchmarks-history.md ("sixth round").
"""

import numpy as np
from django.conf import settings
from django.test import override_settings

from benchmarks.gallery import Gallery
from matcher import indexes as index_module
from matcher.search import search_hotels

HOTELS = 50_000  # bench_index --images 1000000 --per-hotel 20


def page(query) -> tuple:
    outcome = search_hotels(query, k=10)
    hotels = [hit["hotel"]["id"] for hit in outcome.hotels]
    matches = [[match["image_id"] for match in hit["matches"]] for hit in outcome.hotels]
    chains = [chain["chain"]["id"] for chain in outcome.chains[:5]]
    return hotels, matches, chains


def pages(backend, queries) -> list:
    with override_settings(MATCHER_INDEX_BACKEND=backend):
        index_module.reset_index()
        found = [page(query) for query in queries]
    index_module.reset_index()
    return found


gallery = Gallery(1280, HOTELS, spectrum="decaying")
rng = np.random.default_rng(321)
queries = gallery.photos(rng.choice(HOTELS, size=20), seed=10**9 + 7)
tested = settings.MATCHER_INDEX_BACKEND or index_module.default_backend()
approximate = pages(tested, queries)
exact = pages(index_module.EXACT_BACKEND, queries)
for position, name in enumerate(("top-10 hotels", "shown matches", "top-5 chains")):
    same = np.mean([a[position] == e[position] for a, e in zip(approximate, exact, strict=True)])
    print(f"{tested}: same {name} as the exact index in {same:.0%} of {len(queries)} queries")
