"""Keep the pgvector mirror in the table row (STORAGE MAIN) instead of the TOAST table.

Every approximate search re-scores its shortlist (~300 images) on the float32 vectors.
Stored out of line (pgvector's default, EXTERNAL), each vector of 1280 dims is a TOAST
index probe plus three chunk reads: ~10 ms of a ~50 ms search at a million photos
(docs/benchmarks.md). MAIN keeps it in the row the search already reads (5 KB: one
row a page); PostgreSQL still moves it out as a last resort, for vectors over ~8 KB.

Rows written before are rewritten once, so they move inline too: at a million photos
that is a long UPDATE (docs/deploy.md). Nothing here when pgvector is absent.
"""

from django.db import migrations

TABLE = "matcher_embedding"


def has_embedding_column(cursor) -> bool:
    cursor.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_name = %s "
        "AND column_name = 'embedding' AND table_schema = current_schema()",
        [TABLE],
    )
    return cursor.fetchone() is not None


def set_storage(schema_editor, storage: str, rewrite: bool) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if not has_embedding_column(cursor):
            return
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN embedding SET STORAGE {storage}")
        if rewrite:
            # A new value (the cast), not the stored one: an unchanged value keeps its
            # TOAST pointer. Equal bits: float4 -> real[] -> vector is exact.
            cursor.execute(
                f"UPDATE {TABLE} SET embedding = embedding::real[]::vector "
                "WHERE embedding IS NOT NULL"
            )


def forwards(apps, schema_editor):
    set_storage(schema_editor, "MAIN", rewrite=True)


def backwards(apps, schema_editor):
    set_storage(schema_editor, "EXTERNAL", rewrite=False)  # pgvector's default


class Migration(migrations.Migration):
    dependencies = [("matcher", "0004_projection")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
