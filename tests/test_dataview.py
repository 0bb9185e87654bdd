"""Views: datasets made of other datasets' folders, with an index and a length index."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from datasets import Dataset, Features, Value

from echovox.dataview import (
    ViewError,
    load_view,
    open_dataset,
    read_lengths,
    stream_dataset,
    write_view,
)

FEATURES = Features({"x": Value("int64")})


def _parts(tmp_path, sizes):
    parts, start = [], 0
    for k, n in enumerate(sizes):
        Dataset.from_dict({"x": list(range(start, start + n))}, features=FEATURES).save_to_disk(
            str(tmp_path / f"p{k}"), num_shards=1
        )
        parts.append(tmp_path / f"p{k}")
        start += n
    return parts


def test_a_view_reads_its_parts_in_order_through_its_index(tmp_path):
    parts = _parts(tmp_path, [3, 0, 4])
    write_view(tmp_path / "all", parts, FEATURES)
    assert list(open_dataset(tmp_path / "all")["x"]) == list(range(7))
    index = np.array([1, 4, 6])
    write_view(tmp_path / "odd", parts, FEATURES, index=index, lengths={"n": index * 10})
    assert list(load_view(tmp_path / "odd")["x"]) == [1, 4, 6]
    assert read_lengths(tmp_path / "odd")["n"].tolist() == [10, 40, 60]
    assert [r["x"] for r in stream_dataset(tmp_path / "odd")] == [1, 4, 6]
    # the view names its parts relative to itself: the experiment folder can move
    shutil.move(tmp_path, tmp_path.parent / "moved")
    moved = tmp_path.parent / "moved"
    assert list(open_dataset(moved / "odd")["x"]) == [1, 4, 6]
    shutil.rmtree(moved / "p2")
    with pytest.raises(ViewError, match="shard folder"):
        load_view(moved / "odd")


def test_an_empty_view_keeps_its_features(tmp_path):
    write_view(tmp_path / "v", [], FEATURES, index=np.zeros(0, dtype=np.int64))
    ds = load_view(tmp_path / "v")
    assert len(ds) == 0 and ds.features == FEATURES
