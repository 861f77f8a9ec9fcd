"""Semantic search, client-side: which texts of a put to embed, and ranking by cosine similarity.

Embeddings are the caller's function (``index={"dims": ..., "embed": ..., "fields": [...]}`` as
in LangGraph's stores); vectors are stored with their item (float32) and compared here, over the
namespaces a search reads. No server module is needed, and no core dependency: numpy is used
when it is importable (about 20x faster on 1,000 x 1,536), else plain Python. See docs/STORE.md
for the sizes where this is the right tool.

Ranking follows ``InMemoryStore``: an item's score is the best of its vectors (one per embedded
field or list element), results best first, ``offset``/``limit`` over ranked items; items without
vectors are appended (score None) when fewer than ``limit`` ranked ones remain.
"""

from __future__ import annotations

import functools
import importlib.util
from array import array
from collections.abc import Sequence
from typing import Any

from langgraph.store.base import IndexConfig, PutOp, get_text_at_path, tokenize_path

from checkpoint_kv.kvstore.layout import Namespace

__all__ = ["cosine", "index_fields", "texts_to_embed"]

Fields = list[tuple[str, Any]]


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
    if not vectors:
        return []
    np = _numpy()
    if np is not None:
        q = np.asarray(query, dtype=np.float32)
        want = q.nbytes
        ok = [len(b) == want for b in vectors]
        m = np.frombuffer(
            b"".join(b if good else bytes(want) for b, good in zip(vectors, ok, strict=True)),
            dtype=np.float32,
        )
        m = m.reshape(len(vectors), len(q))
        norms = np.linalg.norm(m, axis=1) * np.linalg.norm(q)
        dots = m @ q
        out = np.zeros(len(vectors), dtype=np.float64)
        mask = norms != 0
        out[mask] = dots[mask] / norms[mask]
        return [float(x) for x in out]
    qn = sum(a * a for a in query) ** 0.5
    result = []
    for blob in vectors:
        v = array("f")
        v.frombytes(blob)
        if len(v) != len(query):
            result.append(0.0)
            continue
        vn = sum(a * a for a in v) ** 0.5
        dot = sum(a * b for a, b in zip(query, v, strict=True))
        result.append(dot / (qn * vn) if qn > 0 and vn > 0 else 0.0)
    return result


def rank(
    query: Sequence[float],
    candidates: Sequence[tuple[Any, list[bytes]]],
    offset: int,
    limit: int,
) -> list[tuple[float | None, Any]]:
    """``(score, item)`` for the page ``offset:offset+limit`` of ``candidates`` ranked by their
    best vector; unscored items fill the page when ranked ones run out (InMemoryStore's rule)."""
    flat_items: list[Any] = []
    flat_vecs: list[bytes] = []
    scoreless: list[Any] = []
    for item, vecs in candidates:
        for v in vecs:
            flat_items.append(item)
            flat_vecs.append(v)
        if not vecs:
            scoreless.append(item)
    scores = cosine(query, flat_vecs)
    # Stable sort: ties keep candidate order (namespace, key), so pages are deterministic.
    ranked = sorted(zip(scores, flat_items, strict=True), key=lambda t: -t[0])
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
