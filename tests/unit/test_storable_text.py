"""The one rule for text the database cannot store (store.text), on its own."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text

from connect_app.store.db import make_engine
from connect_app.store.text import REPLACEMENT, first_unstorable, storable, storable_json


def test_nul_and_lone_surrogates_become_the_replacement_character() -> None:
    assert storable("a\x00b\ud800c\udfff") == f"a{REPLACEMENT}b{REPLACEMENT}c{REPLACEMENT}"
    # A pair written as JSON escapes is one real character once read: it is kept.
    emoji = json.loads('"ship \\ud83d\\ude80 it"')
    assert storable(emoji) == emoji == "ship \U0001f680 it"
    assert storable("Größe") == "Größe"


def test_json_values_are_made_storable_keys_included() -> None:
    stored = json.loads(storable_json({"a\x00": ["x\ud800", {"k": "\x00"}], "n": 1}))
    assert stored == {f"a{REPLACEMENT}": [f"x{REPLACEMENT}", {"k": REPLACEMENT}], "n": 1}


def test_first_unstorable_names_the_field() -> None:
    assert first_unstorable({"a": {"b": ["ok", "x\x00"]}}) == "a.b[1]"
    assert first_unstorable({"a": {"k\ud800": 1}}) == "a key in a"
    assert first_unstorable({"a": ["fine", "\U0001f680"], "n": None}) is None


def test_the_engine_stores_what_it_is_given_storable() -> None:
    engine = make_engine("sqlite://")
    with engine.begin() as db:
        db.execute(text("CREATE TABLE t (v TEXT)"))
        db.execute(text("INSERT INTO t VALUES (:v)"), [{"v": "a\ud800"}, {"v": "plain"}])
        assert db.scalars(text("SELECT v FROM t")).all() == [f"a{REPLACEMENT}", "plain"]
    # Without the engine's rule, even SQLite cannot encode a lone surrogate.
    with create_engine("sqlite://").begin() as db, pytest.raises(UnicodeEncodeError):
        db.execute(text("SELECT :v"), {"v": "a\ud800"})
