"""pgvector mirror of `Embedding.vector`, on PostgreSQL when the extension is available.

`Embedding.vector` (float32 bytes) stays the portable, durable copy on every engine.
On PostgreSQL with pgvector this adds `matcher_embedding.embedding vector` (no fixed
dimension: model versions differ) and a trigger that fills it from `vector` on every
insert or change, in the same statement. Every writer (services, bulk_create, admin,
a restore) therefore keeps both copies equal without knowing about pgvector; bulk
loaders may write `embedding` themselves, which the trigger keeps.

The HNSW indexes are per model version (partial, on a fixed-dimension cast), so they
are created by `matcher.indexes.pgvector.ensure_hnsw_index`, not here.
On SQLite, or PostgreSQL without pgvector installable, this migration does nothing and
the exact in-process index serves searches.
"""

from django.db import migrations, transaction

# Little-endian IEEE float32 bytes -> vector, exactly (subnormals included). SQL, not C:
# about 1.5 ms for 1280 dims, paid once per written row.
DECODE_FUNCTION = """
CREATE OR REPLACE FUNCTION matcher_f32le_to_vector(b bytea) RETURNS vector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT array_agg(
    CASE WHEN bits >= 2147483648 THEN -1 ELSE 1 END
    * CASE WHEN ex = 0 THEN man * power(2::float8, -149)
           ELSE (8388608 + man) * power(2::float8, ex - 150) END
    ORDER BY i)::real[]::vector
  FROM (
    SELECT i, bits, (bits >> 23) & 255 AS ex, bits & 8388607 AS man
    FROM (
      SELECT i, get_byte(b, 4 * i)::bigint
             | (get_byte(b, 4 * i + 1)::bigint << 8)
             | (get_byte(b, 4 * i + 2)::bigint << 16)
             | (get_byte(b, 4 * i + 3)::bigint << 24) AS bits
      FROM generate_series(0, length(b) / 4 - 1) AS i
    ) AS words
  ) AS parts
$$
"""

SYNC_TRIGGER = """
CREATE OR REPLACE FUNCTION matcher_embedding_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.embedding IS NULL THEN
      NEW.embedding := matcher_f32le_to_vector(NEW.vector);
    END IF;
  ELSIF NEW.vector IS DISTINCT FROM OLD.vector
        AND NEW.embedding IS NOT DISTINCT FROM OLD.embedding THEN
    NEW.embedding := matcher_f32le_to_vector(NEW.vector);
  END IF;
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS matcher_embedding_sync ON matcher_embedding;
CREATE TRIGGER matcher_embedding_sync
  BEFORE INSERT OR UPDATE OF vector ON matcher_embedding
  FOR EACH ROW EXECUTE FUNCTION matcher_embedding_sync();
"""


def vector_installable(cursor) -> bool:
    cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    return cursor.fetchone() is not None


def create_extension(connection) -> bool:
    """CREATE EXTENSION vector; False (and nothing done) when not allowed here."""
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except Exception:  # e.g. not a superuser on a managed service: keep the exact index
        return False
    return True


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if not vector_installable(cursor):
            return
    if not create_extension(connection):
        return
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE matcher_embedding ADD COLUMN IF NOT EXISTS embedding vector")
        cursor.execute(DECODE_FUNCTION)
        cursor.execute(SYNC_TRIGGER)
        cursor.execute(
            "UPDATE matcher_embedding SET embedding = matcher_f32le_to_vector(vector) "
            "WHERE embedding IS NULL"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS matcher_embedding_sync ON matcher_embedding")
        cursor.execute("DROP FUNCTION IF EXISTS matcher_embedding_sync()")
        cursor.execute("ALTER TABLE matcher_embedding DROP COLUMN IF EXISTS embedding")
        cursor.execute("DROP FUNCTION IF EXISTS matcher_f32le_to_vector(bytea)")


class Migration(migrations.Migration):
    dependencies = [("matcher", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
