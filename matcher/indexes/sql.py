"""What every PostgreSQL-side piece needs: is pgvector here, and a vector's literal.

The lowest module of the package (it imports only the models), so the projections,
the pgvector backend and the graph backend can all use it without importing each other.
"""

import contextlib
import functools

import numpy as np
from django.db import connection
from django.db.models.expressions import RawSQL

from matcher.models import Embedding


def pgvector_available(using=None) -> bool:
    """PostgreSQL with the `embedding` column that migration 0002 adds when it can."""
    conn = connection if using is None else using
    if conn.vendor != "postgresql":
        return False
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = %s "
            "AND column_name = 'embedding' AND table_schema = current_schema()",
            [Embedding._meta.db_table],
        )
        return cursor.fetchone() is not None


def vector_literal(query: np.ndarray) -> str:
    """pgvector's text form of a float32 vector, exact: 9 significant digits identify
    any float32 (and format ~4x faster than repr, ~1.5 ms less per search at 1280 dims)."""
    values = np.asarray(query, dtype=np.float32).tolist()
    return "[" + ",".join(["%.9g"] * len(values)) % tuple(values) + "]"


_IDS = object()  # where the ids go in a compiled `IdsStatement`


class IdsStatement:
    """A queryset over a list of ids, compiled by the ORM once and then run as SQL.

    Why: compiling a queryset costs the ORM ~0.5-0.8 ms each time, and a search at a
    million photos (~15 ms) ran three of them whose SQL never changes but for the ids.
    On PostgreSQL the ids are one array parameter, so the compiled statement is reused;
    elsewhere the queryset runs as usual. `queryset_for(ids)` returns the rows wanted
    (`values_list`) with `pk__in=ids` (the ids once); its values must need no conversion
    by Django on PostgreSQL (numbers, text, datetimes do not).
    """

    def __init__(self, queryset_for):
        self.queryset_for = queryset_for

    @functools.cached_property
    def compiled(self) -> tuple[str, list, int]:
        sql, params = self.queryset_for(id_set(_IDS)).query.sql_with_params()
        params = list(params)
        return sql, params, next(i for i, param in enumerate(params) if param is _IDS)

    def rows(self, ids: list[int]) -> list[tuple]:
        if not ids:
            return []
        if connection.vendor != "postgresql":
            return list(self.queryset_for(ids))
        with connection.cursor() as cursor:
            cursor.execute(*self.bound(ids))
            return cursor.fetchall()

    def bound(self, ids: list[int]) -> tuple[str, list]:
        """The compiled SQL and its parameters for `ids` (PostgreSQL)."""
        sql, params, at = self.compiled
        params = params.copy()
        params[at] = id_array(ids)
        return sql, params


def many_ids(ids):
    """What `pk__in=` should take for many ids: on PostgreSQL one array parameter (150
    hotel ids as 150 parameters cost 1.5 ms to send and plan at 1M, as an array 0.4)."""
    if connection.vendor != "postgresql":
        return list(ids)
    return id_set(id_array(ids))


def id_set(array) -> RawSQL:
    """The ids of a PostgreSQL array parameter as a subquery `pk__in=` takes."""
    return RawSQL("SELECT unnest(%s::bigint[])", [array])


def id_array(ids) -> str:
    """Ids as one PostgreSQL array literal, sent as one text parameter: psycopg dumping a
    list of ints cost more (0.9 ms against 0.65 for 600 ids at 1M)."""
    return "{" + ",".join(map(str, ids)) + "}"


def rows_together(*requests: tuple[IdsStatement, list[int]]) -> list[list[tuple]]:
    """Each (statement, ids)'s rows; on PostgreSQL all sent before any is waited for."""
    if not can_pipeline() or not any(ids for _, ids in requests):
        return [statement.rows(ids) for statement, ids in requests]
    with pipelined() as (send, sync):
        sent = [send(*statement.bound(ids)) if ids else None for statement, ids in requests]
        sync()
        return [[] if cursor is None else cursor.fetchall() for cursor in sent]


def can_pipeline() -> bool:
    """PostgreSQL through psycopg 3 and a libpq with pipeline mode (14+: psycopg's
    binary wheels)."""
    if connection.vendor != "postgresql":
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    if not is_psycopg3:
        return False
    import psycopg

    return psycopg.capabilities.has_pipeline()


@contextlib.contextmanager
def pipelined():
    """(send, sync) on Django's connection in psycopg's pipeline mode: `send(sql, params)`
    puts a statement on its way to the database, where it runs while Python goes on, and
    returns its cursor; `sync()` waits for every statement sent and leaves pipeline mode
    (one Sync, one round trip: syncing, then leaving, cost a second one, ~0.1 ms), then
    the cursors fetch. Leaving the block syncs too when `sync()` was not called; a
    statement sent after `sync()` runs on its own, no longer pipelined.

    The cursors bind on the server (Django's bind on the client, which pipelines do not
    take) and never prepare: a prepared statement saved nothing here (measured), and it
    would not survive a PgBouncer in transaction mode. Errors come out as Django's (an
    outage is a 503, and Django drops a broken connection); a connection left in
    pipeline mode by an error is closed. These statements bypass Django's cursor, so
    `connection.queries` and `execute_wrapper` do not see them.
    """
    import psycopg

    connection.ensure_connection()
    pg = connection.connection
    try:
        with (
            connection.wrap_database_errors,
            contextlib.ExitStack() as cursors,
            contextlib.ExitStack() as pipeline,
        ):
            pipeline.enter_context(pg.pipeline())

            def send(sql: str, params) -> psycopg.Cursor:
                cursor = cursors.enter_context(psycopg.Cursor(pg))
                cursor.execute(sql, params, prepare=False)
                return cursor

            yield send, pipeline.close
    except BaseException:
        with contextlib.suppress(Exception):  # already broken: Django drops it anyway
            if pg.pgconn.pipeline_status != psycopg.pq.PipelineStatus.OFF:
                connection.close()  # libpq still in pipeline mode: unusable as Django's
        raise
