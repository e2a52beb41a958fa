"""Free-text hotel search: every word of a query matches the hotel's name, chain, city
or street, ignoring case and accents and forgiving typos.

Two ways to the same rule:
- PostgreSQL with pg_trgm and unaccent (migration 0005 installs `rooms_fold` and GIN
  trigram indexes): a word matches where it appears in the folded text (LIKE) or is
  close to one of its words (trigram word similarity, `%>`), both answered by the index.
- Anywhere else (SQLite, PostgreSQL without the extensions): the same rule in Python
  with RapidFuzz, over at most FALLBACK_SCAN candidate hotels.

Either way the hotels come back annotated with `match_score`, higher is better: per
word its closeness (1 = appears as typed), plus NAME_WEIGHT when it appears in the
hotel's own name, so "Northstar" puts Northstar hotels above hotels on Northstar Road.
"""

import logging
import re
import unicodedata

from django.db import connections
from django.db.models import (
    BooleanField,
    Case,
    F,
    FloatField,
    Func,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Greatest
from rapidfuzz import fuzz

from rooms.models import Chain, Hotel

logger = logging.getLogger(__name__)

MAX_WORDS = 8  # a query is a few words; more would only grow the SQL
NAME_WEIGHT = 0.5
# pg_trgm's word similarity of a typo to the word meant: "nortstar"/"northstar" 0.58,
# "chicgo"/"chicago" 0.57, but "northstar"/"north" 0.50 and "ina"/"inn" 0.50.
WORD_SIMILARITY = 0.55
# The same strictness in Python: RapidFuzz's normalised indel similarity of two words
# ("nortstar"/"northstar" 0.94, "wels"/"wells" 0.89, "northstar"/"north" 0.71).
FUZZY_MIN = 0.8
FUZZY_MIN_LENGTH = 4  # shorter words must appear as typed: "inn" is no typo of "ina"
FALLBACK_SCAN = 20_000  # hotels read per search without pg_trgm; beyond, install it
FALLBACK_MATCHES = 200  # best matches kept per search without pg_trgm

# Letters that Unicode does not decompose into a base letter and an accent.
_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "ı": "i"})
_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Lower case without accents: "Hôtel São Paulo" -> "hotel sao paulo"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return plain.translate(_LETTERS)


def search_words(q: str) -> list[str]:
    """The words of a query, lower case, accents kept (each backend folds its own way)."""
    return _WORD.findall(q.casefold())[:MAX_WORDS]


def text_matches(hotels: QuerySet[Hotel], words: list[str]) -> QuerySet[Hotel]:
    """`hotels` matching every word, each annotated with `match_score`."""
    if trigram_ready(hotels.db):
        return _trigram_matches(hotels, words)
    return _fallback_matches(hotels, words)


_trigram_ready: dict[tuple[str, str], bool] = {}  # per database: checked once a process


def trigram_ready(alias: str) -> bool:
    """Does this database have `rooms_fold` and pg_trgm's operators (migration 0005)?"""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return False
    key = (alias, connection.settings_dict["NAME"])
    if key not in _trigram_ready:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT to_regprocedure(%s) IS NOT NULL AND to_regoperator(%s) IS NOT NULL",
                ["rooms_fold(text)", "%>(text,text)"],
            )
            _trigram_ready[key] = cursor.fetchone()[0]
    return _trigram_ready[key]


# --- PostgreSQL with pg_trgm ---


class Fold(Func):
    """rooms_fold(text): lower(unaccent(text)), immutable so that it can be indexed."""

    function = "rooms_fold"
    output_field = TextField()


class _Joined(Func):
    """name || ' ' || city || ' ' || address: the exact expression migration 0005 indexes."""

    template = "%(expressions)s"
    arg_joiner = " || ' ' || "


class _Condition(Func):
    """`sql` with the text and the word in it: a condition on the text."""

    output_field = BooleanField()
    sql = ""

    def as_sql(self, compiler, connection, **extra_context):
        text, text_params = compiler.compile(self.source_expressions[0])
        word, word_params = compiler.compile(self.source_expressions[1])
        return self.sql.format(text=text, word=word), (*text_params, *word_params)


class _Contains(_Condition):
    """The word appears in the text as typed (LIKE, answered by the trigram index)."""

    sql = "({text} LIKE '%%' || {word} || '%%')"


class _CloseTo(_Condition):
    """The word is close to a word of the text (pg_trgm word similarity, indexed too)."""

    sql = "({text} %%> {word})"


def _matches(text, word) -> Q:
    return Q(_Contains(text, word)) | Q(_CloseTo(text, word))


def _closeness(word, text) -> Case:
    """1 where the word appears as typed, else its trigram word similarity: the common
    case costs a LIKE, not a similarity (a broad word like "hotel" matches most rows)."""
    similarity = Func(word, text, function="word_similarity", output_field=FloatField())
    return Case(When(_Contains(text, word), then=Value(1.0)), default=similarity)


def hotel_text() -> Fold:
    return Fold(_Joined(F("name"), F("city"), F("address")))


def _trigram_matches(hotels: QuerySet[Hotel], words: list[str]) -> QuerySet[Hotel]:
    _set_threshold(hotels.db)
    text, name = hotel_text(), Fold(F("name"))
    score = Value(0.0)
    for word in words:
        folded = Fold(Value(word))
        chains = _chains_matching(hotels.db, folded)
        # The chain first: a cheap test that spares the similarity on many rows.
        hotels = hotels.filter(Q(chain_id__in=chains) | _matches(text, folded))
        by_chain = [
            When(chain_id__in=[pk for pk in chains if chains[pk] == closeness], then=closeness)
            for closeness in set(chains.values())
        ]
        best = Greatest(_closeness(folded, text), Case(*by_chain, default=Value(0.0)))
        in_name = Case(When(_Contains(name, folded), then=Value(NAME_WEIGHT)), default=Value(0.0))
        score = score + best + in_name
    return hotels.annotate(match_score=score)


def _chains_matching(alias: str, word: Fold) -> dict[int, float]:
    """{chain id: closeness} of the chains the word matches. Chains are few: asked
    first, the hotel filter stays index scans (trigrams OR-ed with chain_id)."""
    name = Fold(F("name"))
    chains = Chain.objects.using(alias).filter(_matches(name, word))
    return dict(chains.values_list("id", _closeness(word, name)))


def _set_threshold(alias: str) -> None:
    """pg_trgm's %> threshold for this connection (its default, 0.6, misses typos)."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT set_config('pg_trgm.word_similarity_threshold', %s, false)",
            [str(WORD_SIMILARITY)],
        )


# --- anywhere else: Python over a bounded candidate set ---


def _fallback_matches(hotels: QuerySet[Hotel], words: list[str]) -> QuerySet[Hotel]:
    candidates = hotels.order_by("pk").values_list("pk", "name", "chain__name", "city", "address")
    rows = list(candidates[: FALLBACK_SCAN + 1])
    if len(rows) > FALLBACK_SCAN:
        logger.warning("hotel search read only %d hotels: install pg_trgm", FALLBACK_SCAN)
        rows = rows[:FALLBACK_SCAN]
    scorer = _WordScorer([fold(word) for word in words])
    scores = {}
    for pk, name, chain, city, address in rows:
        score = scorer.score(fold(name), fold(f"{name} {chain or ''} {city} {address}"))
        if score is not None:
            scores[pk] = score
    best = sorted(scores, key=scores.get, reverse=True)[:FALLBACK_MATCHES]
    ranked = Case(
        *(When(pk=pk, then=Value(scores[pk])) for pk in best),
        default=Value(0.0),
        output_field=FloatField(),
    )
    return hotels.filter(pk__in=best).annotate(match_score=ranked)


class _WordScorer:
    """The Python twin of the trigram rule, remembering each word-to-word closeness."""

    def __init__(self, words: list[str]):
        self.words = words
        self.closeness: dict[tuple[str, str], float] = {}

    def score(self, name: str, text: str) -> float | None:
        """The hotel's match score, or None when a word matches nothing of `text`."""
        total = 0.0
        tokens = _WORD.findall(text)
        for word in self.words:
            best = self.word_score(word, text, tokens)
            if not best:
                return None
            total += best + (NAME_WEIGHT if word in name else 0.0)
        return total

    def word_score(self, word: str, text: str, tokens: list[str]) -> float:
        if word in text:
            return 1.0
        if len(word) < FUZZY_MIN_LENGTH:
            return 0.0
        best = max((self._close(word, token) for token in tokens), default=0.0)
        return best if best >= FUZZY_MIN else 0.0

    def _close(self, word: str, token: str) -> float:
        key = (word, token)
        if key not in self.closeness:
            score = fuzz.ratio(word, token)
            if len(token) > len(word):  # perhaps still typing: compare with its start
                score = max(score, fuzz.ratio(word, token[: len(word)]))
            self.closeness[key] = score / 100
        return self.closeness[key]
