"""Pair the tool calls of a conversation with their results, in SQL, without crossing wires.

Real logs reuse call ids inside one conversation (GPT-4o on τ-bench did), drop them,
or hold a result no call asked for. Pairing by id alone then hands one call another
call's result. So calls and results are first grouped into *turns*: a turn starts at
a call that follows a result (or begins the conversation) and, for message formats,
at the first call of each message; a result belongs to the latest turn before it.
Inside a turn:

1. a result whose id is carried by exactly one call of the turn, and by no other
   result, pairs with that call (by id);
2. the calls and results left over (reused ids, missing ids, results without a call)
   pair by position, k-th with k-th, when there are as many of each and no pair
   contradicts an id another member of the turn carries;
3. any result still unpaired is a reject with its reason; a call without a result is
   stored without one (its success unknown, as for an unanswered call).

Nothing is guessed: a pairing resolved by position is flagged (``by_position``).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

BEFORE_ANY_CALL = "tool result before any tool call"
NO_CALL = "tool result answers no tool call of its turn"
AMBIGUOUS = "ambiguous tool result: its id does not single out one call of its turn"


def pairing_ctes(calls: str, results: str) -> str:
    """CTEs (each preceded by a comma) pairing ``calls`` with ``results`` per conversation ``line``.

    Both relations need ``line``, ``pos`` (order inside the conversation, unique across
    both) and ``call_id`` (text, may be NULL); ``calls`` also ``msg``, the message
    holding the call (NULL where the format has no messages). Defines ``pairs``
    (``line, cpos, rpos, by_position``) and ``unpaired`` (``line, rpos, reason``).

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> calls = "(VALUES (1, 10, 'a', 1), (1, 30, 'a', 3), (1, 50, NULL, 5)) c(line, pos, call_id, msg)"
    >>> results = "(VALUES (1, 20, 'a'), (1, 40, 'a'), (1, 60, 'z'), (1, 61, 'q')) r(line, pos, call_id)"
    >>> sql = f"WITH c AS (FROM {calls}), r AS (FROM {results}) {pairing_ctes('c', 'r')}"
    >>> con.execute(sql + " SELECT cpos, rpos, by_position FROM pairs ORDER BY cpos").fetchall()
    [(10, 20, False), (30, 40, False)]
    >>> con.execute(sql + " SELECT rpos, reason FROM unpaired ORDER BY rpos").fetchall()[0][1].startswith("ambiguous")
    True

    Notes
    -----
    Window passes over the calls and results of the slice: O(n log n).
    """
    new_turn = "is_call AND (prev_call IS DISTINCT FROM true OR msg IS DISTINCT FROM prev_msg)"
    id_paired = "(call_id IS NOT NULL AND n_calls_id = 1 AND n_res_id = 1)"
    return f""",
        pe AS (SELECT line, pos, true AS is_call, call_id, msg FROM {calls}
               UNION ALL SELECT line, pos, false, call_id, NULL FROM {results}),
        pt AS (SELECT line, pos, is_call, call_id,
                      sum(CASE WHEN {new_turn} THEN 1 ELSE 0 END)
                          OVER (PARTITION BY line ORDER BY pos ROWS UNBOUNDED PRECEDING) AS turn
               FROM (SELECT *, lag(is_call) OVER w AS prev_call, lag(msg) OVER w AS prev_msg
                     FROM pe WINDOW w AS (PARTITION BY line ORDER BY pos))),
        pn AS (SELECT *, count(*) FILTER (WHERE is_call) OVER t AS n_calls_id,
                         count(*) FILTER (WHERE NOT is_call) OVER t AS n_res_id
               FROM pt WINDOW t AS (PARTITION BY line, turn, call_id)),
        pl AS (SELECT *, row_number() OVER (PARTITION BY line, turn, is_call ORDER BY pos) AS k,
                      count(*) OVER (PARTITION BY line, turn, is_call) AS n_left,
                      count(*) FILTER (WHERE is_call) OVER (PARTITION BY line, turn) AS calls_left
               FROM pn WHERE NOT {id_paired}),
        pp AS (SELECT c.line, c.turn, c.pos AS cpos, r.pos AS rpos,
                      coalesce(c.call_id = r.call_id, false) OR (r.n_calls_id = 0 AND c.n_res_id = 0) AS ok
               FROM pl c JOIN pl r ON r.line = c.line AND r.turn = c.turn AND r.k = c.k AND r.n_left = c.n_left
                                  AND c.is_call AND NOT r.is_call),
        pok AS (SELECT line, turn FROM pp GROUP BY ALL HAVING bool_and(ok)),
        pairs AS (SELECT c.line, c.pos AS cpos, r.pos AS rpos, false AS by_position
                  FROM pn c JOIN pn r ON r.line = c.line AND r.turn = c.turn AND r.call_id = c.call_id
                  WHERE c.is_call AND NOT r.is_call AND c.n_calls_id = 1 AND c.n_res_id = 1
                  UNION ALL
                  SELECT line, cpos, rpos, true FROM pp SEMI JOIN pok USING (line, turn)),
        unpaired AS (SELECT line, pos AS rpos,
                            CASE WHEN turn = 0 THEN '{BEFORE_ANY_CALL}' WHEN calls_left = 0 THEN '{NO_CALL}'
                                 ELSE '{AMBIGUOUS}' END AS reason
                     FROM pl r WHERE NOT is_call
                       AND NOT EXISTS (SELECT 1 FROM pairs p WHERE p.line = r.line AND p.rpos = r.pos))"""
