"""The investigator tests' shared users (alice, bob...), for the project-wide tests here."""

from investigations.tests.conftest import (  # noqa: F401
    alice,
    alice_teammate,
    bob,
    client_for,
    make_search,
    traveller,
)
