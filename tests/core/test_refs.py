"""One feature-reference grammar: historical accepts key mappings, online says why it does not."""

from __future__ import annotations

import pytest

from sqlfeast.core.refs import FeatureRef, parse_feature_ref
from sqlfeast.core.registry import Registry
from sqlfeast.core.spec import Feature, FeatureView
from sqlfeast.errors import RetrievalError


def registry() -> Registry:
    reg = Registry(project="p")
    reg.feature_views["trips"] = FeatureView(
        "trips", ["loc"], ["location_id"], "ts", [Feature("avg_fare", "double"), Feature("n", "bigint")]
    )
    return reg


@pytest.mark.parametrize(
    "text, expected",
    [
        ("trips", FeatureRef("trips", None)),
        ("trips:avg_fare", FeatureRef("trips", "avg_fare")),
        (" trips : avg_fare ", FeatureRef("trips", "avg_fare")),
        (
            "trips[as=origin, location_id=origin_id]:n",
            FeatureRef("trips", "n", "origin", (("location_id", "origin_id"),)),
        ),
    ],
)
def test_grammar(text: str, expected: FeatureRef) -> None:
    assert parse_feature_ref(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("trips:", "names no feature after ':'"),
        ("trips[as]:n", "cannot read 'as'"),
        ("a b:c", "cannot read feature reference"),
    ],
)
def test_bad_references_are_named(text: str, message: str) -> None:
    with pytest.raises(RetrievalError, match=message):
        parse_feature_ref(text)


def test_online_resolution_uses_the_same_grammar() -> None:
    reg = registry()
    assert reg.resolve_features(["trips", " trips : n "]) == [("trips", "avg_fare"), ("trips", "n"), ("trips", "n")]
    with pytest.raises(RetrievalError, match="maps join keys, which only historical retrieval does") as err:
        reg.resolve_features(["trips[as=origin, location_id=origin_id]:n"])
    assert "drop the [...] part" in err.value.render()
    with pytest.raises(RetrievalError, match="has no feature 'avg_far'.*did you mean 'avg_fare'"):
        reg.resolve_features("trips:avg_far")
