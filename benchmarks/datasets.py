"""Evaluation sets described by a manifest.csv (never a database)."""

import csv
from dataclasses import dataclass
from pathlib import Path

REQUIRED_COLUMNS = ("path", "group_id")
QUERY_COLUMNS = ("is_query", "is_holidays_query")


class DatasetError(ValueError):
    """The folder or its manifest cannot be used for evaluation."""


@dataclass(frozen=True)
class Item:
    name: str  # path as written in the manifest: seeds the occlusion mask
    path: Path
    group: str
    chain: str | None
    is_query: bool


def read_manifest(directory):
    """Items of `directory`/manifest.csv (columns path, group_id[, chain_id][, is_query]).

    Without a query column every image is a query against all the others.
    """
    directory = Path(directory)
    manifest = directory / "manifest.csv"
    if not manifest.is_file():
        raise DatasetError(f"{manifest} not found: a dataset folder needs a manifest.csv")
    with open(manifest, newline="") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise DatasetError(f"{manifest} lacks column(s) {', '.join(missing)} (has {columns})")
        query_column = next((c for c in QUERY_COLUMNS if c in columns), None)
        items = [_item(directory, row, query_column) for row in reader]
    if not items:
        raise DatasetError(f"{manifest} lists no images")
    missing_files = [str(item.path) for item in items if not item.path.is_file()]
    if missing_files:
        raise DatasetError(
            f"{len(missing_files)} image(s) in {manifest} are missing, e.g. {missing_files[0]}"
        )
    return items


def _item(directory, row, query_column):
    is_query = (
        True if query_column is None else row[query_column].strip().lower() in ("1", "true", "yes")
    )
    chain = (row.get("chain_id") or "").strip()
    chain = None if chain in ("", "-1") else chain  # Hotels-50K writes -1 for "no chain"
    return Item(row["path"], directory / row["path"], row["group_id"], chain, is_query)
