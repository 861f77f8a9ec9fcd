"""Semantic search, client-side: which texts of a put to embed, and ranking by similarity.

Embeddings are the caller's function (``index={"dims": ..., "embed": ..., "fields": [...]}`` as
in LangGraph's stores); vectors are stored with their item (float32) and compared here, over the
namespaces a search reads. No server module is needed, and no core dependency: numpy is used
when it is importable (about 20x faster on 1,000 x 1,536), else plain Python. See docs/STORE.md
for the sizes where this is the right tool.

Ranking follows ``InMemoryStore``: an item's score is the best of its vectors (one per embedded
field or list element), results best first, ``offset``/``limit`` over ranked items; items without
vectors are appended (score None) when fewer than ``limit`` ranked ones remain.

Scores follow ``PostgresStore`` (pgvector), by the index config's ``distance_type``, so code that
thresholds ``item.score`` means the same on both stores; higher is always better:

- ``cosine`` (the default): cosine similarity, ``1 - (a <=> b)``;
- ``l2``: minus the Euclidean distance, ``-(a <-> b)`` (0 for an identical vector);
- ``inner_product``: the dot product, ``-(a <#> b)``.

A stored vector of another dimension (``dims`` changed since it was stored) is no match: 0.0
under cosine, as before; ``l2`` and ``inner_product`` have no neutral score, so there it is
left out (an item left with no comparable vector is ranked as one without vectors).
"""

from __future__ import annotations

import functools
import importlib.util
import math
from array import array
from collections.abc import Mapping, Sequence
from typing import Any, cast

from langgraph.store.base import IndexConfig, PutOp, get_text_at_path, tokenize_path

from checkpoint_kv.errors import ConfigError
from checkpoint_kv.store.layout import Namespace

__all__ = ["DISTANCES", "cosine", "distance_type", "index_fields", "similarity", "texts_to_embed"]

Fields = list[tuple[str, Any]]

DISTANCES = ("cosine", "l2", "inner_product")  # PostgresStore's distance_type values


def distance_type(config: IndexConfig) -> str:
    """The config's ``distance_type`` (default ``cosine``). ``IndexConfig`` does not declare
    it (``PostgresIndexConfig`` does), so it is read as a plain key; an unknown one is a
    ConfigError, never silently ranked by cosine."""
    value = cast(Mapping[str, Any], config).get("distance_type", "cosine")
    if value not in DISTANCES:
        raise ConfigError(
            f"index distance_type={value!r}: expected one of {', '.join(DISTANCES)} "
            "(as PostgresStore's)"
        )
    return str(value)


def index_fields(config: IndexConfig) -> Fields:
    return [(p, tokenize_path(p) if p != "$" else p) for p in (config.get("fields") or ["$"])]


def texts_to_embed(ops: Sequence[PutOp], fields: Fields) -> dict[tuple[Namespace, str, str], str]:
    """``(namespace, key, path) -> text`` for the puts to index (the last put of a key wins;
    ``index=False`` and deletes embed nothing; a list field embeds each element as
    ``path.i``, as InMemoryStore does)."""
    out: dict[tuple[Namespace, str, str], str] = {}
    for op in ops:
        if op.value is None or op.index is False:
            continue
        paths = fields if op.index is None else [(p, tokenize_path(p)) for p in op.index]
        for path, tokens in paths:
            texts = get_text_at_path(op.value, tokens)
            if len(texts) > 1:
                for i, text in enumerate(texts):
                    out[(op.namespace, op.key, f"{path}.{i}")] = text
            elif texts:
                out[(op.namespace, op.key, path)] = texts[0]
    return out


@functools.lru_cache(maxsize=1)
def _numpy() -> Any:
    if importlib.util.find_spec("numpy") is None:
        return None
    import numpy

    return numpy


def cosine(query: Sequence[float], vectors: Sequence[bytes]) -> list[float]:
    """Cosine similarity of ``query`` with each stored vector (packed float32, see
    ``layout.pack_vector``); 0.0 for a zero vector or one of another dimension."""
    return [0.0 if s is None else s for s in similarity(query, vectors, "cosine")]


def similarity(
    query: Sequence[float], vectors: Sequence[bytes], distance: str = "cosine"
) -> list[float | None]:
    """The score of each stored vector (packed float32) for ``query`` under ``distance`` (see
    the module docstring), None for a vector of another dimension (0.0 under cosine, as for a
    zero vector)."""
    if not vectors:
        return []
    np = _numpy()
    if np is None:
        return [_score_plain(query, blob, distance) for blob in vectors]
    q = np.asarray(query, dtype=np.float32)
    want = q.nbytes
    ok = np.array([len(b) == want for b in vectors], dtype=bool)
    m = np.frombuffer(
        b"".join(b if good else bytes(want) for b, good in zip(vectors, ok, strict=True)),
        dtype=np.float32,
    ).reshape(len(vectors), len(q))
    if distance == "l2":
        out = -np.linalg.norm(m - q, axis=1).astype(np.float64)
    elif distance == "inner_product":
        out = (m @ q).astype(np.float64)
    else:
        norms = np.linalg.norm(m, axis=1) * np.linalg.norm(q)
        dots = m @ q
        out = np.zeros(len(vectors), dtype=np.float64)
        mask = norms != 0
        out[mask] = dots[mask] / norms[mask]
        return [float(x) for x in out]
    return [float(x) if good else None for x, good in zip(out, ok, strict=True)]


def _score_plain(query: Sequence[float], blob: bytes, distance: str) -> float | None:
    """One score without numpy (the same rules as :func:`similarity`)."""
    v = array("f")
    v.frombytes(blob)
    if len(v) != len(query):
        return 0.0 if distance == "cosine" else None
    if distance == "l2":
        return -math.sqrt(sum((a - b) ** 2 for a, b in zip(query, v, strict=True)))
    dot = sum(a * b for a, b in zip(query, v, strict=True))
    if distance == "inner_product":
        return dot
    qn = math.sqrt(sum(a * a for a in query))
    vn = math.sqrt(sum(a * a for a in v))
    return dot / (qn * vn) if qn > 0 and vn > 0 else 0.0


def rank(
    query: Sequence[float],
    candidates: Sequence[tuple[Any, list[bytes]]],
    offset: int,
    limit: int,
    distance: str = "cosine",
) -> list[tuple[float | None, Any]]:
    """``(score, item)`` for the page ``offset:offset+limit`` of ``candidates`` ranked by their
    best vector under ``distance``; unscored items fill the page when ranked ones run out
    (InMemoryStore's rule)."""
    flat_items: list[Any] = []
    flat_vecs: list[bytes] = []
    for item, vecs in candidates:
        for v in vecs:
            flat_items.append(item)
            flat_vecs.append(v)
    scored = [
        (score, item)
        for score, item in zip(similarity(query, flat_vecs, distance), flat_items, strict=True)
        if score is not None
    ]
    has_score = {id(item) for _, item in scored}
    scoreless = [item for item, _ in candidates if id(item) not in has_score]
    # Stable sort: ties keep candidate order (namespace, key), so pages are deterministic.
    ranked = sorted(scored, key=lambda t: -t[0])
    seen: set[int] = set()
    kept: list[tuple[float | None, Any]] = []
    for score, item in ranked:
        ident = id(item)
        if ident in seen:
            continue
        ix = len(seen)
        seen.add(ident)
        if ix >= offset + limit:
            break
        if ix < offset:
            continue
        kept.append((score, item))
    if scoreless and len(kept) < limit:
        kept.extend((None, item) for item in scoreless[: limit - len(kept)])
    return kept
