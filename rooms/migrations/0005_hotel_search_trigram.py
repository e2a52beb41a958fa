"""Trigram indexes for the hotel search, on PostgreSQL when pg_trgm and unaccent are there.

Creates the extensions (both are trusted since PostgreSQL 13: a database owner may),
`rooms_fold(text)` = lower(unaccent(text)) declared immutable so that it can be
indexed, and GIN trigram indexes on the folded hotel text (name, city, street) and
chain name, which answer both LIKE '%word%' and the word-similarity operator `%>`.

On SQLite, or PostgreSQL where the extensions cannot be installed, this does nothing
and rooms/search_text.py matches in Python. Installing them later: migrate rooms 0004,
then migrate again.
"""

from django.db import migrations, transaction

EXTENSIONS = ("pg_trgm", "unaccent")
# unaccent() is only STABLE (its dictionary could change); with the dictionary named
# explicitly the result depends on the text alone, the usual way to index it.
FOLD_FUNCTION = """
CREATE OR REPLACE FUNCTION rooms_fold(text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT lower({unaccent}.unaccent('{unaccent}.unaccent'::regdictionary, $1)) $$
"""
# The expressions rooms/search_text.py queries, character for character in meaning.
INDEXES = {
    "rooms_hotel_search_trgm": (
        "rooms_hotel USING gin "
        "(rooms_fold(name || ' ' || city || ' ' || address) {trgm}.gin_trgm_ops)"
    ),
    "rooms_chain_search_trgm": "rooms_chain USING gin (rooms_fold(name) {trgm}.gin_trgm_ops)",
}


def create_extensions(connection) -> bool:
    """CREATE EXTENSION for both; False (and nothing done) when not available or allowed."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_available_extensions WHERE name = ANY(%s)", [list(EXTENSIONS)]
        )
        if cursor.fetchone()[0] != len(EXTENSIONS):
            return False
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            for name in EXTENSIONS:
                cursor.execute(f"CREATE EXTENSION IF NOT EXISTS {name}")
    except Exception:  # e.g. no CREATE privilege on a managed service: search in Python
        return False
    return True


def extension_schemas(cursor) -> dict[str, str]:
    cursor.execute(
        "SELECT e.extname, quote_ident(n.nspname) FROM pg_extension e "
        "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = ANY(%s)",
        [list(EXTENSIONS)],
    )
    return dict(cursor.fetchall())


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql" or not create_extensions(connection):
        return
    with connection.cursor() as cursor:
        schemas = extension_schemas(cursor)
        cursor.execute(FOLD_FUNCTION.format(unaccent=schemas["unaccent"]))
        for name, target in INDEXES.items():
            on = target.format(trgm=schemas["pg_trgm"])
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {on}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
        cursor.execute("DROP FUNCTION IF EXISTS rooms_fold(text)")


class Migration(migrations.Migration):
    dependencies = [("rooms", "0004_traveller_flow")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
