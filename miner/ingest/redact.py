"""Mask secrets in args, results, errors and rejected raw text before anything is stored.

E-mail addresses, bearer tokens, API keys (``sk-…``, ``ghp_…``, ``xoxb-…``, ``AKIA…``,
JWTs and the like) and card-like digit runs (13–19 digits, optional spaces or
dashes) become stable tokens such as ``<email:3f2a9c1b>``: the first 8 hex digits of
an HMAC-SHA256 of the value, so equal values stay equal (and joinable) while the
value itself is gone.

Set-wise: the distinct matches are extracted in SQL (``regexp_extract_all``), only
those distinct values get a token in Python, and a map from value to token is
applied in SQL by splitting each text at the matches and joining the pieces back.

The key is ``redact_key``, else ``$CHAINMINE_REDACT_KEY``, else one generated once
and kept in the store's ``meta`` table (anyone who can read the database can then
test guesses against the tokens; pass your own key to prevent that).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets

import duckdb
import pyarrow as pa

log = logging.getLogger(__name__)

KEY_ENV = "CHAINMINE_REDACT_KEY"
META_KEY = "redact_key"

PATTERNS: dict[str, str] = {
    "bearer": r"[Bb]earer\s+[A-Za-z0-9._~+/-]{8,}=*",
    "api_key": (r"\b(?:sk-[A-Za-z0-9_-]{16,}|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"
                r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}"
                r"|(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20,}"
                r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"),
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "card": r"\b\d(?:[ -]?\d){12,18}\b",
}
"""Secret kinds and their patterns (RE2 and Python ``re`` alike); earlier kinds win."""

SECRET_RE = "|".join(f"(?:{p})" for p in PATTERNS.values())
# JSON strings are consumed whole so that a digit run matched here is a bare number.
BARE_NUMBER_RE = r'"(?:[^"\\]|\\.)*"|-?\d{13,}(?:\.\d+)?(?:[eE][+-]?\d+)?'
CARD_DIGITS_RE = r"\d{13,19}"

MAP_TABLE = "_ing_redact_map"
_COMPILED = {kind: re.compile(p) for kind, p in PATTERNS.items()}


def resolve_key(con: duckdb.DuckDBPyConnection, redact_key: str | None = None) -> bytes:
    """The HMAC key: ``redact_key``, else ``$CHAINMINE_REDACT_KEY``, else the store's own.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> resolve_key(con, "k")
    b'k'
    >>> resolve_key(con) == resolve_key(con) if "CHAINMINE_REDACT_KEY" not in os.environ else True
    True
    """
    key = redact_key or os.environ.get(KEY_ENV)
    if key:
        return key.encode()
    row = con.execute("SELECT value FROM meta WHERE key = ?", [META_KEY]).fetchone()
    if row:
        return row[0].encode()
    generated = secrets.token_hex(32)
    con.execute("INSERT INTO meta VALUES (?, ?)", [META_KEY, generated])
    log.info("generated a redaction key and stored it in the meta table")
    return generated.encode()


def key_is_the_stores(redact_key: str | None = None) -> bool:
    """Whether :func:`resolve_key` would use the key kept in the store (no key given, none in the environment).

    Examples
    --------
    >>> key_is_the_stores("mine")
    False
    """
    return not (redact_key or os.environ.get(KEY_ENV))


def classify(secret: str) -> str:
    """The kind of a matched secret (first pattern that matches all of it).

    Examples
    --------
    >>> classify("ana@example.org"), classify("4111 1111 1111 1111"), classify("Bearer abcdefghij")
    ('email', 'card', 'bearer')
    """
    for kind, pattern in _COMPILED.items():
        if pattern.fullmatch(secret):
            return kind
    return "secret"


def token(secret: str, key: bytes) -> str:
    """The stable replacement of one secret, e.g. ``<email:3f2a9c1b>``.

    Values are normalised first so that the same secret written differently (an
    e-mail in another case, a card number with spaces) gets the same token.

    Examples
    --------
    >>> token("Ana@Example.org", b"k") == token("ana@example.org", b"k")
    True
    >>> token("4111 1111 1111 1111", b"k") == token("4111111111111111", b"k")
    True
    >>> token("a@b.co", b"k").startswith("<email:")
    True
    """
    kind = classify(secret)
    value = secret
    if kind == "email":
        value = secret.lower()
    elif kind == "card":
        value = re.sub(r"\D", "", secret)
    elif kind == "bearer":
        value = secret.split(None, 1)[-1]
    digest = hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"<{kind}:{digest[:8]}>"


def _lit(pattern: str) -> str:
    return "'" + pattern.replace("'", "''") + "'"


def _bare_cards(col: str) -> str:
    return (f"list_filter(regexp_extract_all({col}, {_lit(BARE_NUMBER_RE)}), "
            f"lambda m: regexp_full_match(m, {_lit(CARD_DIGITS_RE)}))")


def _apply(text: str, pattern: str, replacement) -> str:
    """SQL: ``text`` with every match of ``pattern`` replaced by ``replacement(match_sql)``."""
    return (f"array_to_string(list_transform(list_zip(regexp_split_to_array({text}, {_lit(pattern)}), "
            f"regexp_extract_all({text}, {_lit(pattern)})), "
            f"lambda z: z[1] || coalesce({replacement('z[2]')}, '')), '')")


def _lookup(m: str) -> str:
    return f"coalesce(mm.secrets[{m}], {m})"


def _quoted_card(m: str) -> str:
    # A card-like bare number becomes a JSON string token; other strings and numbers stay.
    return (f"CASE WHEN regexp_full_match({m}, {_lit(CARD_DIGITS_RE)}) "
            f"THEN '\"' || mm.secrets[{m}] || '\"' ELSE {m} END")


def _redacted_json(col: str) -> str:
    text = f"{col}::VARCHAR"
    step1 = (f"CASE WHEN regexp_matches({text}, '\\d{{13}}') "
             f"THEN {_apply(text, BARE_NUMBER_RE, _quoted_card)} ELSE {text} END")
    return (f"CASE WHEN {col} IS NULL OR NOT (regexp_matches({text}, {_lit(SECRET_RE)}) "
            f"OR len({_bare_cards(text)}) > 0) THEN {text} "
            f"ELSE {_apply(f'({step1})', SECRET_RE, _lookup)} END")


def _redacted_text(col: str) -> str:
    return (f"CASE WHEN {col} IS NULL OR NOT regexp_matches({col}, {_lit(SECRET_RE)}) THEN {col} "
            f"ELSE {_apply(col, SECRET_RE, _lookup)} END")


def redact_table(con: duckdb.DuckDBPyConnection, table: str, key: bytes, *,
                 json_columns: tuple[str, ...] = ("args", "result"),
                 text_columns: tuple[str, ...] = ("error", "raw")) -> int:
    """Replace secrets in the given columns of ``table`` (a table the caller created).

    Returns the number of distinct secrets found.

    Notes
    -----
    Two regex scans per column over the table plus one rewrite of the rows that hold
    a secret; Python touches only the distinct secrets.

    Examples
    --------
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE t AS SELECT '{\\"to\\": \\"ana@example.org\\", \\"n\\": 4111111111111111}'::JSON AS args, "
    ...                 "NULL::JSON AS result, 'mail ana@example.org' AS error, NULL AS raw")
    >>> redact_table(con, "t", b"k")
    2
    >>> args, error = con.execute("SELECT args, error FROM t").fetchone()
    >>> "ana@" in args + error, args.count("<email:"), args.count('"<card:')
    (False, 1, 1)
    """
    found = []
    for col in json_columns:
        found.append(f"SELECT unnest(regexp_extract_all({col}::VARCHAR, {_lit(SECRET_RE)})) AS s FROM {table}")
        found.append(f"SELECT unnest({_bare_cards(f'{col}::VARCHAR')}) AS s FROM {table}")
    for col in text_columns:
        found.append(f"SELECT unnest(regexp_extract_all({col}, {_lit(SECRET_RE)})) AS s FROM {table}")
    distinct = [r[0] for r in con.execute(f"SELECT DISTINCT s FROM ({' UNION ALL '.join(found)}) WHERE s IS NOT NULL").fetchall()]
    if not distinct:
        return 0
    mapping = pa.table({"secret": distinct, "token": [token(s, key) for s in distinct]})
    con.register("_ing_redact_arrow", mapping)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {MAP_TABLE} AS "
                    "SELECT map(list(secret), list(token)) AS secrets FROM _ing_redact_arrow")
    finally:
        con.unregister("_ing_redact_arrow")
    replaced = [f"{_redacted_json(c)} AS {c}" for c in json_columns]
    replaced += [f"{_redacted_text(c)} AS {c}" for c in text_columns]
    # A secret that cut through JSON syntax (say the integer part of a float) leaves the
    # value redacted as a JSON string instead of failing the ingest.
    as_json = [f"CASE WHEN json_valid({c}) THEN {c}::JSON ELSE to_json({c}) END AS {c}" for c in json_columns]
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * REPLACE ({', '.join(as_json)}) "
                f"FROM (SELECT t.* REPLACE ({', '.join(replaced)}) FROM {table} t, {MAP_TABLE} mm)")
    con.execute(f"DROP TABLE {MAP_TABLE}")
    log.info("redacted %d distinct secrets", len(distinct))
    return len(distinct)
