"""Text that every database can store, enforced where every value leaves for the database.

PostgreSQL refuses NUL (U+0000) in text and in `json` values read as text, and a lone surrogate
(U+D800-U+DFFF without its partner, which JSON's escapes such as `\\ud800` can carry) cannot be encoded
at all, on PostgreSQL or SQLite. Either one made an insert fail, so a delivery whose commit
message carried one never became facts. Every JSON sender can put them in any string or key.

The rule lives here, once, at the engine: every statement's string parameters and every JSON
value (keys included) pass through it, so no field, present or future, reopens the hole.
Each such character becomes U+FFFD, the character Unicode made for "a character was here that
could not be kept": a commit whose message has a NUL is still a real commit (it may be a
revert), so its fact is kept and readably marked rather than lost. Senders that can fix their
own text (CI tools, flag scripts with our token, admins, Jira users) are refused at intake
instead (`intake.store.json_body`), with the field named, using `first_unstorable` below.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, event

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` with each NUL and lone surrogate replaced by U+FFFD (unchanged when there is none)."""
    if text.isascii() and "\x00" not in text:
        return text
    return _UNSTORABLE.sub(REPLACEMENT, text)


def storable_value(value: Any) -> Any:
    """A JSON-like value with every string in it, keys included, made storable."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, Mapping):
        return {storable(k) if isinstance(k, str) else k: storable_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable_value(item) for item in value]
    return value


def first_unstorable(value: Any, path: str = "") -> str | None:
    """Where in a parsed JSON document the first unstorable character is (`tags[2]`, `a.b`,
    `the key "x"`), or None. The document's depth is bounded at intake before this runs."""
    if isinstance(value, str):
        return (path or "the body") if _UNSTORABLE.search(value) else None
    items = value.items() if isinstance(value, Mapping) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and _UNSTORABLE.search(key):
            return f"a key in {path or 'the body'}"
        where = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else str(key)
        found = first_unstorable(item, where)
        if found is not None:
            return found
    return None


def storable_json(value: Any) -> str:
    """The engine's JSON serializer: what SQLAlchemy writes into JSON columns."""
    return json.dumps(storable_value(value))


def _storable_parameters(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
                         executemany: bool) -> tuple[str, Any]:
    if executemany and isinstance(parameters, list):
        return statement, [_storable_row(row) for row in parameters]
    return statement, _storable_row(parameters)


def _storable_row(row: Any) -> Any:
    if isinstance(row, dict):
        if any(isinstance(v, str) and _needs_care(v) for v in row.values()):
            return {k: storable(v) if isinstance(v, str) else v for k, v in row.items()}
        return row
    if isinstance(row, list | tuple) and any(isinstance(v, str) and _needs_care(v) for v in row):
        return type(row)(storable(v) if isinstance(v, str) else v for v in row)
    return row


def _needs_care(text: str) -> bool:
    return "\x00" in text or (not text.isascii() and _UNSTORABLE.search(text) is not None)


def keep_text_storable(engine: Engine) -> None:
    """Make every string parameter of every statement on `engine` storable (reads included: a
    NUL in a looked-up key finds nothing instead of failing the request)."""
    event.listen(engine, "before_cursor_execute", _storable_parameters, retval=True)
