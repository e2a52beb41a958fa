"""Investigators' verdicts as training data for the matcher.

`decided_queries` is what `settings.MATCHER_DECISIONS_SOURCE` names: `matcher.learning`
reads it through that setting, because the matcher may not import the investigations
app. Each kept search with verdicts gives its query photo prepared exactly as its
judged revision searched it (region cropped, the person erased; a revision whose mask
was not kept is never read), with the gallery photos judged the same hotel and those
judged not. Every query photo read for this is an audit row of its own, written before
the photo is opened (no person asked: the user is empty).
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from django.core.exceptions import ValidationError
from PIL import Image

from investigations.audit import audit_event
from investigations.evidence import MaskNotKept, revision_query
from investigations.models import AuditEntry, Search
from investigations.selectors import labelled_pairs

logger = logging.getLogger(__name__)

READER = "matcher training"  # the audit rows' name for who read the photo


@dataclass(frozen=True)
class DecidedQuery:
    key: str  # the search's: stable across runs and revisions (the held-out split hashes it)
    image: Image.Image  # as the judged revision searched it
    mask: np.ndarray | None  # True = erased
    confirmed: tuple[int, ...]  # gallery photos judged of the query's hotel
    rejected: tuple[int, ...]  # gallery photos judged of another hotel


def decided_queries() -> Iterator[DecidedQuery]:
    """One per judged (search, revision); unreadable or unerasable photos are skipped."""
    groups: dict[tuple, dict] = {}
    for pair in labelled_pairs():
        groups.setdefault((pair.search_id, pair.revision), {})[pair.image_id] = pair.same_hotel
    for (search_id, number), labels in groups.items():
        search = Search.objects.filter(pk=search_id).first()
        revision = search and search.revisions.filter(number=number).first()
        if revision is None:
            continue  # purged meanwhile
        audit_event(
            username=READER,
            action=AuditEntry.Action.TRAINING,
            search=search,
            detail={"revision": number},
        )
        try:
            prepared = revision_query(search, revision)
        except (OSError, ValidationError, MaskNotKept) as exc:
            logger.warning(
                "search %s revision %s not used for training: %s", search_id, number, exc
            )
            continue
        yield DecidedQuery(
            key=f"search:{search_id}",
            image=prepared.image,
            mask=prepared.mask,
            confirmed=tuple(sorted(pk for pk, same in labels.items() if same)),
            rejected=tuple(sorted(pk for pk, same in labels.items() if not same)),
        )
