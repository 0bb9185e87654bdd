import json

import pytest

from echovox.text import SymbolTable, SymbolTableMismatchError
from echovox.text.symbols import DEFAULT_SYMBOLS, ENGLISH_PHONES, SPECIALS


def test_specials_have_fixed_ids():
    table = SymbolTable.default()
    assert [table.pad_id, table.bos_id, table.eos_id, table.unk_id] == [0, 1, 2, 3]
    assert table.decode([0, 1, 2, 3]) == list(SPECIALS)


def test_default_table_is_stable():
    # ids of shipped models depend on this order: appending is fine, moving is not
    table = SymbolTable.default()
    assert table.symbols[4:8] == ("_", "ˈ", "ˌ", ".")
    assert table.id("ɪ") == DEFAULT_SYMBOLS.index("ɪ")
    assert all(p in table for p in ENGLISH_PHONES)


def test_encode_decode_round_trip():
    table = SymbolTable.default()
    tokens = ["h", "ə", "l", "ˈ", "oʊ", "_", "w", "ˈ", "ɜː", "l", "d", "."]
    assert table.decode(table.encode(tokens)) == tokens


def test_unknown_phone_spelt_with_characters_or_unk():
    table = SymbolTable.default()
    assert table.encode(["ʊɪ"]) == [table.id("ʊ"), table.id("ɪ")]
    assert table.encode(["\u4e2d"]) == [table.unk_id]


def test_save_load_and_mismatch(tmp_path):
    table = SymbolTable.default()
    path = table.save(tmp_path / "symbols.json")
    loaded = SymbolTable.load(path)
    assert loaded == table
    table.check_matches(loaded)
    other = table.extended(["new-phone"])
    assert other.id("new-phone") == len(table)
    with pytest.raises(SymbolTableMismatchError, match="first difference at id"):
        table.check_matches(other)
    data = json.loads(path.read_text())
    data["symbols"][10], data["symbols"][11] = data["symbols"][11], data["symbols"][10]
    path.write_text(json.dumps(data))
    with pytest.raises(SymbolTableMismatchError, match="id 10"):
        table.check_matches(SymbolTable.load(path))


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        SymbolTable.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not an echovox symbol table"):
        SymbolTable.load(bad)
    with pytest.raises(ValueError, match="must start with"):
        SymbolTable(["a", "b"])
    with pytest.raises(ValueError, match="duplicate"):
        SymbolTable([*SPECIALS, "a", "a"])
