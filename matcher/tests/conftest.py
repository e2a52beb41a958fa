import os

import pytest

from matcher.indexes.sql import pgvector_available
from matcher.tests.embedding_factories import set_active

VERSION = "test-backbone:cccc:gem3-448:d32"  # the pgvector tests' gallery version
DIM = 32


@pytest.fixture
def pgvector(db):
    """PostgreSQL with pgvector (scripts/pytest-pgvector), serving VERSION; else skip."""
    if not pgvector_available():
        if os.environ.get("TC_TEST_DB") == "pgvector":
            pytest.fail("the pgvector test run has no pgvector column (migration matcher.0002)")
        pytest.skip("needs PostgreSQL with pgvector: run scripts/pytest-pgvector")
    set_active(VERSION)


@pytest.fixture
def graph_dir(settings, tmp_path):
    """Where the in-process backends write their graphs and snapshots, per test."""
    settings.MATCHER_GRAPH_DIR = tmp_path / "graphs"
    return settings.MATCHER_GRAPH_DIR


@pytest.fixture
def served(db, graph_dir):
    """The pgvector tests' gallery version served, graphs in a temporary folder."""
    set_active(VERSION)
