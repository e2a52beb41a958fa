"""Keep the pgvector mirror in the table row (STORAGE MAIN) instead of the TOAST table.

Every approximate search re-scores its shortlist (~300 images) on the float32 vectors.
Stored out of line (pgvector's default, EXTERNAL), each vector of 1280 dims is a TOAST
index probe plus three chunk reads: ~7 ms of a search at a million photos
(docs/benchmarks.md). MAIN keeps it in the row the search already reads (5 KB: one
row a page); PostgreSQL still moves it out as a last resort, for vectors over ~8 KB.

This changes the catalogue only (a moment's lock): rows written from now on are
inline. Rows already there move with `manage.py pgvector_index --inline`, in short
batches while searches go on; rewriting them here would hold the table's exclusive
lock for the whole rewrite (over 20 minutes at a million photos).
"""

from django.db import migrations

TABLE = "matcher_embedding"


def set_storage(schema_editor, storage: str) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = %s "
            "AND column_name = 'embedding' AND table_schema = current_schema()",
            [TABLE],
        )
        if cursor.fetchone() is None:  # no pgvector here
            return
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN embedding SET STORAGE {storage}")


def forwards(apps, schema_editor):
    set_storage(schema_editor, "MAIN")


def backwards(apps, schema_editor):
    set_storage(schema_editor, "EXTERNAL")  # pgvector's default


class Migration(migrations.Migration):
    dependencies = [("matcher", "0004_projection")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
