"""Investigators' verdicts as training data for the matcher.

`decided_queries` is what `settings.MATCHER_DECISIONS_SOURCE` names: `matcher.learning`
reads it through that setting, because the matcher may not import the investigations
app. Each kept search with verdicts gives its query photo prepared exactly as its
judged revision searched it (region cropped, the person erased), with the gallery
photos judged the same hotel and those judged not. Every query photo read for this is
an audit row of its own (no person asked: the user is empty).
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from PIL import Image

from investigations.audit import audit_event
from investigations.models import PRIVATE_STORAGE, AuditEntry, Search
from investigations.query import prepare_query
from investigations.selectors import labelled_pairs

logger = logging.getLogger(__name__)

READER = "matcher training"  # the audit rows' name for who read the photo


@dataclass(frozen=True)
class DecidedQuery:
    key: str  # stable across runs (the held-out split hashes it)
    image: Image.Image  # as the judged revision searched it
    mask: np.ndarray | None  # True = erased
    confirmed: tuple[int, ...]  # gallery photos judged of the query's hotel
    rejected: tuple[int, ...]  # gallery photos judged of another hotel


def decided_queries() -> Iterator[DecidedQuery]:
    """One per (search, mask, region) that has verdicts; unreadable photos are skipped."""
    groups: dict[tuple, dict] = {}
    for pair in labelled_pairs():
        region = ",".join(str(part) for part in pair.region) if pair.region else None
        group = groups.setdefault((pair.search_id, pair.query_file, pair.mask_file, region), {})
        group[pair.image_id] = pair.same_hotel
    for (search_id, query_file, mask_file, region), labels in groups.items():
        try:
            prepared = prepare_query(_read(query_file), _read(mask_file), region)
        except (OSError, ValidationError) as exc:  # purged meanwhile, or no longer valid
            logger.warning("search %s not used for training: %s", search_id, exc)
            continue
        _audit(search_id, mask_file)
        yield DecidedQuery(
            key=f"search:{search_id}:{mask_file}:{region or ''}",
            image=prepared.image,
            mask=prepared.mask,
            confirmed=tuple(sorted(pk for pk, same in labels.items() if same)),
            rejected=tuple(sorted(pk for pk, same in labels.items() if not same)),
        )


def _read(name: str) -> ContentFile | None:
    if not name:
        return None
    with PRIVATE_STORAGE.open(name, "rb") as fh:
        return ContentFile(fh.read(), name=name.rsplit("/", 1)[-1])


def _audit(search_id, mask_file: str) -> None:
    search = Search.objects.filter(pk=search_id).first()
    audit_event(
        username=READER,
        action=AuditEntry.Action.TRAINING,
        search=search,
        detail={"mask": bool(mask_file)},
    )
