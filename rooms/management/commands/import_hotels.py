"""manage.py import_hotels FILE.csv: create or update hotels from a catalogue export.

Rows are matched on external_ref, so importing the same file again changes
nothing. The whole file is one transaction: one bad row and nothing is saved.
"""

import csv
import math
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from rooms.models import Chain, Hotel

COLUMNS = [
    "external_ref",
    "name",
    "chain",
    "address",
    "city",
    "country_code",
    "latitude",
    "longitude",
]
HOTEL_FIELDS = ["name", "chain", "address", "city", "country_code", "latitude", "longitude"]


class RowError(Exception):
    def __init__(self, line, reason):
        super().__init__(f"line {line}: {reason}")


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    seen_refs: dict = field(default_factory=dict)  # external_ref -> line number


class Command(BaseCommand):
    help = "Create or update hotels from a CSV file (columns: " + ",".join(COLUMNS) + ")."

    def add_arguments(self, parser):
        parser.add_argument("csv_file")

    def handle(self, *args, csv_file, verbosity=1, **options):
        try:
            with open(csv_file, newline="", encoding="utf-8-sig") as fh:
                rows = read_rows(fh)
                counts = import_rows(rows, progress_file=self.stderr._out, verbosity=verbosity)
        except OSError as exc:
            raise CommandError(f"Cannot read {csv_file}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{csv_file} is not UTF-8 text.") from None
        except RowError as exc:
            raise CommandError(f"{csv_file} {exc}; nothing was imported.") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Hotels created: {counts.created}, updated: {counts.updated}, "
                f"unchanged: {counts.unchanged}."
            )
        )


def read_rows(fh) -> list[tuple[int, dict]]:
    """(line number, row) pairs, after checking the header."""
    reader = csv.DictReader(fh)
    header = reader.fieldnames or []
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise RowError(1, f"missing column(s) {', '.join(missing)}")
    rows = []
    try:
        for row in reader:
            if None in row:
                raise RowError(reader.line_num, "more fields than the header has")
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise RowError(reader.line_num, f"malformed CSV ({exc})") from None
    return rows


@transaction.atomic
def import_rows(rows, *, progress_file=None, verbosity=1) -> Counts:
    counts = Counts()
    chains = {chain.name: chain for chain in Chain.objects.all()}
    refs = [row.get("external_ref", "").strip() for _, row in rows]
    existing = Hotel.objects.in_bulk(refs, field_name="external_ref")
    bar = tqdm(rows, desc="Hotels", unit="row", file=progress_file, disable=verbosity == 0)
    for line, row in bar:
        import_row(line, row, chains, existing, counts)
    return counts


def import_row(line, row, chains, existing, counts):
    values = {key: (value or "").strip() for key, value in row.items() if key in COLUMNS}
    ref = values["external_ref"]
    if not ref:
        raise RowError(line, "external_ref is empty")
    if ref in counts.seen_refs:
        first = counts.seen_refs[ref]
        raise RowError(line, f"external_ref {ref!r} already appears on line {first}")
    counts.seen_refs[ref] = line
    values["chain"] = chain_named(line, values["chain"], chains)
    values["country_code"] = values["country_code"].upper()
    for coordinate in ("latitude", "longitude"):
        values[coordinate] = parse_float(line, coordinate, values[coordinate])
    hotel = existing.get(ref)
    if hotel is None:
        save_hotel(line, Hotel(external_ref=ref, **{k: values[k] for k in HOTEL_FIELDS}))
        counts.created += 1
    elif has_changes(hotel, values):
        for key in HOTEL_FIELDS:
            setattr(hotel, key, values[key])
        save_hotel(line, hotel)
        counts.updated += 1
    else:
        counts.unchanged += 1


def has_changes(hotel, values) -> bool:
    new_chain_id = values["chain"].pk if values["chain"] else None
    if hotel.chain_id != new_chain_id:  # compare ids: no query per row
        return True
    return any(getattr(hotel, key) != values[key] for key in HOTEL_FIELDS if key != "chain")


def chain_named(line, name, chains):
    if not name:
        return None
    if name not in chains:
        chain = Chain(name=name)
        try:
            chain.full_clean()
        except ValidationError as exc:
            raise RowError(line, f"chain: {describe(exc)}") from None
        chain.save()
        chains[name] = chain
    return chains[name]


def parse_float(line, column, raw):
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):  # NaN would slip past the range validators
        raise RowError(line, f"{column} {raw!r} is not a number")
    return value


def save_hotel(line, hotel):
    # external_ref uniqueness is checked above against the file and the database.
    try:
        hotel.full_clean(validate_unique=False)
    except ValidationError as exc:
        raise RowError(line, describe(exc)) from None
    hotel.save()


def describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{name}: {' '.join(messages)}" for name, messages in sorted(exc.message_dict.items())
    )
