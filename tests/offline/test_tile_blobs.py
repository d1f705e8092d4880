"""Blobs built for a whole batch at once are byte for byte those of encode_tiles per entity."""

from __future__ import annotations

import random

import pytest

from sqlfeast.offline.tile_blobs import encode_batch
from sqlfeast.online.tile_layout import Tiles, encode_tiles, plan_of
from tests.tile_batches import batch_view, random_batch, slice_columns


@pytest.mark.parametrize("odd", [False, True], ids=["full-sub-tiles", "empty-sub-tiles-and-null-lasts"])
def test_batch_blobs_are_those_of_encode_tiles(odd):
    plan = plan_of(batch_view())
    rnd = random.Random(7 if odd else 3)
    for _ in range(6):
        bounds, keys, n, maxts, cols = random_batch(rnd, 40, odd)
        got = encode_batch(plan, bounds, keys, n, maxts, cols)
        want = [
            encode_tiles(plan, keys[a:b], n[a:b], maxts[a:b], slice_columns(cols, a, b))
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        assert len(got) == len(want) and got == want
        for blob in got:
            assert Tiles(plan, blob).count > 0  # each blob reads back
