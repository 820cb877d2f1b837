"""Small SQL snippets shared by the importers and the normaliser.

DuckDB's ``trim`` scans the whole string and is slow on long lines, so the
snippets look at the first/last character first and trim only when needed.
"""

from __future__ import annotations

WHITESPACE = "(' ' || chr(9) || chr(10) || chr(13))"


def strip(expr: str) -> str:
    """SQL: ``expr`` without surrounding whitespace (trimming only when there is some).

    Examples
    --------
    >>> import duckdb
    >>> duckdb.sql(f"SELECT {strip('x')} FROM (VALUES (' a '), ('b'), (''), ('t-1 ')) v(x)").fetchall()
    [('a',), ('b',), ('',), ('t-1',)]
    """
    ends = " OR ".join(f"ends_with({expr}, {c})" for c in ("' '", "chr(9)", "chr(10)", "chr(13)"))
    return f"CASE WHEN contains({WHITESPACE}, left({expr}, 1)) OR {ends} THEN trim({expr}, {WHITESPACE}) ELSE {expr} END"


def not_blank(col: str = "raw") -> str:
    """SQL predicate: ``col`` holds something besides whitespace.

    Examples
    --------
    >>> import duckdb
    >>> duckdb.sql(f"SELECT {not_blank('x')} FROM (VALUES ('  '), ('{{}}'), (NULL)) v(x)").fetchall()
    [(False,), (True,), (False,)]
    """
    return f"({col} IS NOT NULL AND {strip(col)} <> '')"


def starts_object(col: str = "raw") -> str:
    """SQL predicate: the text in ``col`` starts (after whitespace) with ``{``.

    Examples
    --------
    >>> import duckdb
    >>> duckdb.sql(f"SELECT {starts_object('x')} FROM (VALUES (' {{}}'), ('[1]')) v(x)").fetchall()
    [(True,), (False,)]
    """
    return f"CASE WHEN left({col}, 1) = '{{' THEN true ELSE starts_with(ltrim({col}, {WHITESPACE}), '{{') END"


def starts_container(col: str) -> str:
    """SQL predicate: the text in ``col`` starts (after whitespace) with ``[`` or ``{``.

    Examples
    --------
    >>> import duckdb
    >>> duckdb.sql(f"SELECT {starts_container('x')} FROM (VALUES ('[1]'), (' {{}}'), ('Error'), ('')) v(x)").fetchall()
    [(True,), (True,), (False,), (False,)]
    """
    # Most texts decide on their first character; only leading whitespace needs the regex.
    return (f"CASE WHEN left({col}, 1) IN ('[', '{{') THEN true "
            f"WHEN NOT contains({WHITESPACE}, left({col}, 1)) OR {col} = '' THEN false "
            f"ELSE regexp_matches({col}, '^\\s*[\\[{{]') END")


def json_kind(text: str) -> str:
    """SQL: the JSON type (``VARCHAR``, ``NUMBER``, ``OBJECT``, ...) of minified JSON ``text``.

    The first character decides, so no value is parsed again.

    Examples
    --------
    >>> import duckdb
    >>> duckdb.sql(f"SELECT {json_kind('j')} FROM (VALUES ('[1]'), ('1.5'), ('{{}}'), (NULL)) v(j)").fetchall()
    [('ARRAY',), ('NUMBER',), ('OBJECT',), ('NULL',)]
    """
    return (f"CASE WHEN {text} IS NULL THEN 'NULL' ELSE CASE left({text}, 1) WHEN '\"' THEN 'VARCHAR' "
            f"WHEN '{{' THEN 'OBJECT' WHEN '[' THEN 'ARRAY' WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' "
            f"WHEN 'n' THEN 'NULL' ELSE 'NUMBER' END END")


MAX_DEPTH = 200
"""Deepest nesting of ``args``/``result`` JSON stored; deeper rows are rejected (Python,
which reads stored values back, cannot parse JSON nested near its recursion limit)."""

_STRING_RE = r'"(\\.|[^"\\])*"'
_NOT_BRACKET_RE = r"[^\[\]{}]"


def nested_deeper(text: str, limit: int = MAX_DEPTH) -> str:
    """SQL predicate: the JSON text ``text`` nests arrays/objects more than ``limit`` levels deep.

    Only texts holding at least ``limit`` opening brackets are measured (strings
    dropped, then a running sum over the brackets), so ordinary rows cost a length check.

    Examples
    --------
    >>> import duckdb
    >>> deep = "[" * 5 + "]" * 5
    >>> duckdb.connect().execute(f"SELECT {nested_deeper('t', 3)} FROM (VALUES ('{deep}'), ('[[1]]'), "
    ...                          "('[\\"[[[[[[[[\\"]'), (NULL)) v(t)").fetchall()
    [(True,), (False,), (False,), (False,)]
    """
    brackets = f"regexp_replace(regexp_replace({text}, '{_STRING_RE}', '', 'g'), '{_NOT_BRACKET_RE}', '', 'g')"
    step = "CASE WHEN c IN ('[', '{') THEN 1 ELSE -1 END"
    steps = f"list_transform(string_split({brackets}, ''), lambda c: {{'d': {step}, 'm': {step}}})"
    depth = (f"list_reduce(list_prepend({{'d': 0, 'm': 0}}, {steps}), "
             f"lambda a, x: {{'d': a.d + x.d, 'm': greatest(a.m, a.d + x.d)}}).m")
    opening = f"strlen({text}) - strlen(replace(replace({text}, '[', ''), '{{', ''))"
    return (f"(strlen({text}) >= {2 * limit} AND {opening} > {limit} AND {depth} > {limit})")
