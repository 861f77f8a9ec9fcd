"""Semantic search honours the index config's ``distance_type`` as ``PostgresStore`` does
(pgvector): ``cosine`` scores the cosine similarity, ``l2`` minus the Euclidean distance,
``inner_product`` the dot product; an item's score is its best vector; results best first. An
unknown ``distance_type`` is a ConfigError, never silently ranked by cosine.

Each backend's results (order and scores, every page) are compared with a numpy reference
computed here from the same float32 vectors. The fake embedding gives vectors of different
lengths, so the three distances rank the items differently (checked too: a store that ignored
``distance_type`` would fail).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import checkpoint_kv
from checkpoint_kv import ConfigError
from checkpoint_kv.store import KVBaseStore, vectors
from checkpoint_kv.store import layout as L
from tests.conftest import selected_backends

DIMS = 6
DISTANCES = ("cosine", "l2", "inner_product")
BACKENDS = [b for b in ("memory", "sqlite", "fakeredis", "redis") if b in selected_backends()]


def _vec(text: str) -> list[float]:
    """A deterministic embedding: hash bytes in [-1, 1], scaled by a length that varies per
    text (0.25 to 4), so the inner product and l2 order items differently from cosine."""
    digest = hashlib.sha256(text.encode()).digest()
    scale = 0.25 + digest[DIMS] / 255 * 3.75
    return [(b / 127.5 - 1.0) * scale for b in digest[:DIMS]]


def fake_embed(texts: list[str]) -> list[list[float]]:
    return [_vec(t) for t in texts]


def _index(distance: str) -> Any:
    return {
        "dims": DIMS,
        "embed": fake_embed,
        "fields": ["title", "body"],
        "distance_type": distance,
    }


ITEMS = {f"doc{i:02d}": {"title": f"title {i}", "body": f"body text {i * 7}"} for i in range(30)}
QUERY = "what the user asked"


def _reference(distance: str) -> list[tuple[str, float]]:
    """``(key, score)`` best first, computed from the float32 vectors the store keeps: the
    best of an item's two vectors (title, body), as PostgresStore's ``DISTINCT ON``."""
    q = np.asarray(_vec(QUERY), dtype=np.float32).astype(np.float64)
    out = []
    for key, value in ITEMS.items():
        best = -np.inf
        for text in (value["title"], value["body"]):
            v = np.asarray(_vec(text), dtype=np.float32).astype(np.float64)
            if distance == "cosine":
                s = v @ q / (np.linalg.norm(v) * np.linalg.norm(q))
            elif distance == "l2":
                s = -np.linalg.norm(v - q)
            else:
                s = v @ q
            best = max(best, float(s))
        out.append((key, best))
    out.sort(key=lambda t: -t[1])
    gaps = [a[1] - b[1] for a, b in itertools.pairwise(out)]
    assert min(gaps) > 1e-4, "the reference has near-ties: the order check would be flaky"
    return out


def test_the_distances_rank_differently() -> None:
    """Guard of the test data: a store ranking by cosine whatever the config would fail."""
    orders = {d: [k for k, _ in _reference(d)[:10]] for d in DISTANCES}
    assert orders["cosine"] != orders["l2"] != orders["inner_product"] != orders["cosine"]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"url_{request.param}"))


@pytest.fixture(params=DISTANCES)
def store(request: pytest.FixtureRequest, url: str) -> Iterator[tuple[KVBaseStore, str]]:
    distance = str(request.param)
    with checkpoint_kv.store_from_url(url, index=_index(distance)) as s:
        s.setup()
        for key, value in ITEMS.items():
            s.put(("docs", "u1"), key, value)
        s.put(("docs", "u1"), "plain", {"title": "never embedded"}, index=False)
        yield s, distance


def test_search_order_and_scores_match_numpy(store: tuple[KVBaseStore, str]) -> None:
    s, distance = store
    ref = _reference(distance)
    for offset, limit in [(0, 10), (10, 10), (25, 10), (0, 40)]:
        hits = s.search(("docs",), query=QUERY, offset=offset, limit=limit)
        page = ref[offset : offset + limit]
        assert [h.key for h in hits[: len(page)]] == [k for k, _ in page]
        assert [h.score for h in hits[: len(page)]] == pytest.approx(
            [sc for _, sc in page], rel=1e-5, abs=1e-5
        )
        # the item without vectors fills the page after the ranked ones (score None)
        assert [(h.key, h.score) for h in hits[len(page) :]] == (
            [("plain", None)] if len(page) < limit else []
        )


def test_async_search_matches_too(store: tuple[KVBaseStore, str]) -> None:
    s, distance = store
    ref = _reference(distance)[:5]

    async def go() -> list[Any]:
        return await s.asearch(("docs", "u1"), query=QUERY, limit=5)

    hits = asyncio.run(go())
    assert [h.key for h in hits] == [k for k, _ in ref]
    assert [h.score for h in hits] == pytest.approx([sc for _, sc in ref], rel=1e-5, abs=1e-5)


def test_unknown_distance_type_is_a_config_error() -> None:
    for bad in ("dot", "L2", "euclidean", "hamming", None):
        with pytest.raises(ConfigError, match="distance_type"):
            checkpoint_kv.store_from_url("memory://", index=_index(bad))  # type: ignore[arg-type]
    plain: Any = {"dims": DIMS, "embed": fake_embed, "fields": ["text"]}
    with checkpoint_kv.store_from_url("memory://", index=plain) as s:
        s.put(("a",), "k", {"text": "x"})
        hits = s.search(("a",), query="x")  # no distance_type: cosine, as PostgresStore
        assert hits[0].score == pytest.approx(1.0)


@pytest.mark.parametrize("distance", DISTANCES)
def test_without_numpy_the_scores_agree(distance: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """numpy is optional: the plain-Python scores equal numpy's; a vector of another dimension
    is 0.0 under cosine (as before) and no score at all under l2 / inner_product."""
    q = _vec(QUERY)
    blobs = [L.pack_vector(_vec(f"t{i}")) for i in range(20)]
    blobs += [L.pack_vector([0.0] * DIMS), L.pack_vector([1.0] * (DIMS + 2))]
    with_numpy = vectors.similarity(q, blobs, distance)
    monkeypatch.setattr(vectors, "_numpy", lambda: None)
    plain = vectors.similarity(q, blobs, distance)
    assert plain[:-1] == pytest.approx(with_numpy[:-1], rel=1e-5, abs=1e-6)
    assert plain[-1] == with_numpy[-1] == (0.0 if distance == "cosine" else None)


def test_an_item_with_only_foreign_vectors_is_unranked_under_l2() -> None:
    """The index's dims changed since an item was stored: under l2 its old vector has no
    score, so the item comes after the ranked ones, with score None (as an unembedded one)."""
    old_index: Any = {"dims": 3, "embed": lambda ts: [[1.0, 0.0, 0.0] for _ in ts]}
    with checkpoint_kv.store_from_url("sqlite:///:memory:", index=old_index) as old:
        old.put(("a",), "old", {"text": "x"})
        new = KVBaseStore(old.store, index=_index("l2") | {"fields": ["text"]}, owns_store=False)
        new.put(("a",), "new", {"text": "y"})
        hits = new.search(("a",), query="y")
        assert [(h.key, h.score is None) for h in hits] == [("new", False), ("old", True)]
        assert hits[0].score == pytest.approx(0.0, abs=1e-6)  # the same text: distance 0
