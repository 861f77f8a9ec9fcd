"""Security: no pickle on the default path, encryption at rest through ``EncryptedSerializer``,
credentials never leak from URLs, and one tenant prefix never sees another's threads."""

from __future__ import annotations

import logging
import pickle
import re
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, empty_checkpoint
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer

import checkpoint_kv
from checkpoint_kv import ConfigError, CorruptRecordError, KVCheckpointSaver
from checkpoint_kv import keys as K
from checkpoint_kv.port import Put, frame
from checkpoint_kv.registry import open_store
from checkpoint_kv.saver import records as R

ROOT = Path(__file__).resolve().parents[2]


def _cp(cid: str, values: dict[str, Any]) -> Checkpoint:
    cp = empty_checkpoint()
    cp["id"] = cid
    cp["channel_values"] = dict(values)
    cp["channel_versions"] = {ch: f"{i + 1:05d}.1" for i, ch in enumerate(values)}
    return cp


def _conf(thread: str, ns: str = "") -> RunnableConfig:
    return {"configurable": {"thread_id": thread, "checkpoint_ns": ns}}


def _put(saver: KVCheckpointSaver, thread: str, values: dict[str, Any], md: Any = None) -> Any:
    cp = _cp("1f0-1", values)
    return saver.put(
        _conf(thread), cp, md or {"source": "input", "step": 0}, cp["channel_versions"]
    )


# --- pickle -----------------------------------------------------------------------------------


class _Boom:
    """Unpickling this creates ``path``: proof that a pickle payload was executed."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(self.path),))


@pytest.mark.parametrize("where", ["value", "blob", "write", "checkpoint", "metadata"])
def test_planted_pickle_is_not_executed(
    saver: KVCheckpointSaver, tmp_path: Path, where: str
) -> None:
    """A value with type tag "pickle" planted in the store is refused, never unpickled:
    a channel value in its record or in a blob of its own (shallow), a write, a checkpoint,
    metadata."""
    marker = tmp_path / "pwned"
    payload = ("pickle", pickle.dumps(_Boom(str(marker))))
    saver.shallow = where == "blob"
    cfg = _put(saver, "victim", {"msg": "hello"})
    saver.put_writes(cfg, [("msg", "pending")], "task1")
    part = K.partition("victim")
    if where == "blob":
        key, value = K.blob_key("", "msg", "00001.1"), R.encode_blob(payload)
    elif where == "write":
        key = K.write_key("", "1f0-1", "task1", 0)
        value = frame([], R.encode_write(R.WriteRecord("task1", "", 0, "msg", payload)))
    else:
        key = K.record_key("", "1f0-1")
        stored = saver.store.get(part, [key])[key]
        refs = stored.split(b"\n\n", 1)[0].decode().split("\n")
        rec = R.decode_checkpoint(key, stored.split(b"\n\n", 1)[1])
        rec = rec._replace(
            checkpoint=payload if where == "checkpoint" else rec.checkpoint,
            metadata=payload if where == "metadata" else rec.metadata,
        )
        if where == "value":
            assert rec.inline
            rec = rec._replace(inline=tuple((ch, vc, payload) for ch, vc, _ in rec.inline))
        value = frame(refs, R.encode_checkpoint(rec))
    saver.store.write(part, [Put(key, value)])
    reads = [
        lambda: saver.get_tuple(_conf("victim")),
        lambda: list(saver.list(None)),
        lambda: list(saver.list(_conf("victim"), filter={"source": "input"})),
    ]
    for read in reads:
        with pytest.raises(CorruptRecordError) as e:
            read()
        assert key in str(e.value)
    assert not marker.exists(), "a planted pickle payload was executed"


def test_default_serde_has_no_pickle_fallback() -> None:
    saver = checkpoint_kv.from_url("memory://")
    assert getattr(saver.serde, "pickle_fallback", False) is False


def test_no_pickle_in_library_code() -> None:
    """Neither the core nor any backend imports or calls pickle."""
    files = [f for f in (ROOT / "checkpoint_kv").rglob("*.py") if "backends" not in f.parts]
    files += list((ROOT / "backends").rglob("*.py"))  # every module of every package
    assert len(files) > 60
    pattern = re.compile(
        r"^\s*(import|from)\s+(c?pickle|dill|cloudpickle)\b|pickle\.loads?\(", re.M
    )
    offenders = [str(f) for f in files if pattern.search(f.read_text(encoding="utf-8"))]
    assert not offenders


# --- encryption at rest -----------------------------------------------------------------------

MARKER = "PLAINTEXT-MARKER-7f3a"


def test_encrypted_serializer_round_trips_and_hides_plaintext(url: str) -> None:
    serde = EncryptedSerializer.from_pycryptodome_aes(key=b"0123456789abcdef")
    saver = checkpoint_kv.from_url(url, serde=serde)
    saver.setup()
    try:
        values = {"msg": f"secret {MARKER}", "nested": {"k": [MARKER, 1]}, "raw": MARKER.encode()}
        md = {"source": "input", "step": 0, "note": MARKER}
        cfg = _put(saver, "enc", values, md)
        saver.put_writes(cfg, [("msg", MARKER), ("__interrupt__", {"why": MARKER})], "task")
        t = saver.get_tuple(_conf("enc"))
        assert t is not None
        assert t.checkpoint["channel_values"] == values
        assert t.metadata["note"] == MARKER  # type: ignore[typeddict-item]
        assert sorted(w[1] for w in t.pending_writes or []) == ["__interrupt__", "msg"]
        assert [x.metadata["step"] for x in saver.list(None, filter={"note": MARKER})] == [0]
        # Every stored byte, read back through the port.
        stored = saver.store.scan(K.partition("enc"), "", "~").items
        assert len(stored) >= 2  # the record and its blobs and writes (however packed)
        for key, value in stored:
            assert MARKER.encode() not in value, f"plaintext at {key}"
            assert MARKER not in key
        # The same bytes without the key are useless: a plain saver refuses them.
        plain = KVCheckpointSaver(saver.store)
        with pytest.raises(CorruptRecordError):
            plain.get_tuple(_conf("enc"))
    finally:
        saver.close()


# --- credentials in URLs ----------------------------------------------------------------------

SECRET = "s3cr3t-P4ss"


CREDENTIAL_URLS = [
    f"redis://alice:{SECRET}@127.0.0.1:1/0?connect_timeout=1&retries=0",
    f"rediss://alice:{SECRET}@127.0.0.1:1/0?connect_timeout=1&retries=0",
    f"redis://:{SECRET}@127.0.0.1:1/0?connect_timeout=1&retries=0",
    f"redis+cluster://alice:{SECRET}@127.0.0.1:1?connect_timeout=1&retries=0",
    f"valkey://alice:{SECRET}@127.0.0.1:1/0?connect_timeout=1&retries=0",
    f"redis://alice:{SECRET}@127.0.0.1:1/0?connect_timeout=1&retries=0&bogus_option=1",
    f"dynamodb://AKIAEXAMPLE:{SECRET}@table?region=us-east-1"
    "&endpoint_url=http://127.0.0.1:1&max_retries=0",
    f"dynamodb://table?region=us-east-1&endpoint_url=http://bob:{SECRET}@127.0.0.1:1&max_retries=0",
    f"dynamodb://table?region=us-east-1&aws_secret_access_key={SECRET}",
    f"s3://AKIAEXAMPLE:{SECRET}@bucket/prefix?region=us-east-1&endpoint_url=http://127.0.0.1:1",
    f"s3://bucket/prefix?region=us-east-1&endpoint_url=http://bob:{SECRET}@127.0.0.1:1",
    f"s3://bucket/prefix?secret_key={SECRET}",
    f"nosuchscheme://alice:{SECRET}@host/x",
    f"redi://alice:{SECRET}@host/x",
]


def _exception_text(e: BaseException) -> str:
    return "".join(traceback.format_exception(type(e), e, e.__traceback__)) + repr(e)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("url", CREDENTIAL_URLS, ids=lambda u: str(u).split("://")[0])
def test_credentials_never_leak(
    url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever happens (missing client library, bad option, refused connection), the password
    is in no repr, no exception (with its whole chain) and no log record."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")  # never the real AWS
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    caplog.set_level(logging.DEBUG)
    seen: list[tuple[str, str]] = []
    try:
        saver = checkpoint_kv.from_url(url)
    except Exception as e:  # MissingDependencyError, ConfigError, UnknownSchemeError...
        seen.append(("from_url error", _exception_text(e)))
    else:
        for obj in (saver, saver.store, saver.astore):
            seen += [("repr", repr(obj)), ("str", str(obj))]
        for name, call in (
            ("setup", saver.setup),
            ("get_tuple", lambda: saver.get_tuple(_conf("t"))),
            ("close", saver.close),
        ):
            try:
                call()
            except Exception as e:
                seen.append((f"{name} error", _exception_text(e)))
    seen += [(f"log {r.name}", r.getMessage()) for r in caplog.records]
    leaks = sorted({what for what, text in seen if SECRET in text})
    assert not leaks, f"the password leaked into: {leaks}"
    assert seen  # something was checked


def test_redaction_helpers() -> None:
    from checkpoint_kv.errors import redact, redact_url

    assert SECRET not in redact(f"failed: redis://u:{SECRET}@h:1/0 and rediss://:{SECRET}@h")
    assert SECRET not in redact_url(f"redis://u:{SECRET}@h:1/0?password={SECRET}&token={SECRET}")
    assert redact_url("redis://u:p@h:1/0").startswith("redis://u:***@h:1")


# Passwords with "@", ":" and "%40": the whole userinfo goes, up to the authority's last "@".
AT_PASSWORDS = [
    ("redis://:hunter2@Pr0dS3cret@host/0", "redis://:***@host/0"),
    ("redis://alice:hunter2@Pr0dS3cret@host:6379/0", "redis://alice:***@host:6379/0"),
    ("rediss://alice:hun:ter2@Pr0d@S3cret@host", "rediss://alice:***@host"),
    ("redis://alice:hunter2%40Pr0dS3cret@host/0", "redis://alice:***@host/0"),
    ("redis://:hunter2%3APr0dS3cret@host?db=0", "redis://:***@host?db=0"),
    ("redis://hunter2Pr0dS3cret@host/0", "redis://***@host/0"),  # user only: maybe a token
    ("s3://AKIA:hunter2@Pr0dS3cret@bucket/a@b.com", "s3://AKIA:***@bucket/a@b.com"),
    ("s3://bucket/user@example.com/x", "s3://bucket/user@example.com/x"),  # a path, untouched
]


@pytest.mark.parametrize(("url", "shown"), AT_PASSWORDS)
def test_redaction_of_passwords_with_at_colon_and_escapes(url: str, shown: str) -> None:
    """Before: redaction stopped at the first "@" and printed ``:***@Pr0dS3cret@host``."""
    from checkpoint_kv.errors import redact, redact_url

    assert redact(url) == shown
    assert redact_url(url) == shown
    for part in ("hunter2", "Pr0dS3cret", "Pr0d@S3cret"):
        assert part not in redact(url) or part in shown


def test_redaction_of_several_urls_in_one_text() -> None:
    from checkpoint_kv.errors import redact

    text = (
        "copy redis://:hunter2@Pr0dS3cret@a:1/0 -> 'rediss://bob:x@y@b:2' failed "
        '(endpoint_url="http://k:s@t@c:3/p@q"), see https://docs/x@y'
    )
    assert redact(text) == (
        "copy redis://:***@a:1/0 -> 'rediss://bob:***@b:2' failed "
        '(endpoint_url="http://k:***@c:3/p@q"), see https://docs/x@y'
    )


AT_URL = "redis://:hunter2@Pr0dS3cret@127.0.0.1:1/0?connect_timeout=1&retries=0"


def _no_secret(text: str) -> None:
    assert "hunter2" not in text and "Pr0dS3cret" not in text, text


def test_password_with_at_never_leaks_anywhere(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's log line, ``checkpoint-kv setup``, a ConfigError, the reprs."""
    import asyncio
    import io

    from checkpoint_kv.cli import main
    from checkpoint_kv.server import make_checkpointer

    caplog.set_level(logging.DEBUG)
    # reprs (no connection is made until a call)
    saver = checkpoint_kv.from_url(AT_URL)
    for obj in (saver, saver.store, saver.astore):
        _no_secret(repr(obj) + str(obj))
    # a connection error, through its whole chain
    with pytest.raises(Exception) as e:
        saver.setup()
    _no_secret(_exception_text(e.value))
    saver.close()
    # a ConfigError (a bad option) names the URL
    with pytest.raises(ConfigError) as ce:
        checkpoint_kv.from_url(AT_URL + "&bogus_option=1")
    _no_secret(_exception_text(ce.value))
    # checkpoint-kv setup: the error line, and --json
    for argv in (["setup", AT_URL], ["--json", "setup", AT_URL], ["doctor", AT_URL]):
        out, err = io.StringIO(), io.StringIO()
        assert main(argv, stdout=out, stderr=err) != 0
        _no_secret(out.getvalue() + err.getvalue())
        assert "127.0.0.1" in err.getvalue() + out.getvalue()
    # the server's log line, once it is up (a memory store stands in for the server)
    from checkpoint_kv import server

    monkeypatch.setattr(server, "from_url", lambda u, **o: checkpoint_kv.from_url("memory://"))

    async def serve_at() -> None:
        async with make_checkpointer(AT_URL, setup=True):
            pass

    asyncio.run(serve_at())
    lines = [r.getMessage() for r in caplog.records if r.name == "checkpoint_kv.server"]
    assert any("127.0.0.1:1/0" in line for line in lines), lines
    for r in caplog.records:
        _no_secret(r.getMessage())


# --- tenants (backends with a ``prefix`` option) ----------------------------------------------


def _tenant_url(url: str, tenant: str) -> str:
    base, _, query = url.partition("?")
    if base.startswith("s3://"):  # the prefix is the path
        return f"{base.rstrip('/')}/{tenant}" + (f"?{query}" if query else "")
    q = dict(parse_qsl(query, keep_blank_values=True))
    q["prefix"] = f"{q.get('prefix', 'ckv')}-{tenant}"
    return f"{base}?{urlencode(q)}"


@pytest.fixture
def tenants(url: str) -> Iterator[tuple[KVCheckpointSaver, KVCheckpointSaver]]:
    try:
        open_store(_tenant_url(url, "a")).close()
    except ConfigError as e:
        pytest.skip(f"this backend has no prefix option ({e})")
    a = checkpoint_kv.from_url(_tenant_url(url, "a"))
    b = checkpoint_kv.from_url(_tenant_url(url, "b"))
    a.setup()
    b.setup()
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def test_one_tenant_cannot_see_or_delete_anothers_threads(
    tenants: tuple[KVCheckpointSaver, KVCheckpointSaver],
) -> None:
    a, b = tenants
    _put(a, "shared", {"v": "a"}, {"source": "input", "step": 0, "run_id": "r1"})
    _put(a, "only-a", {"v": "a"}, {"source": "input", "step": 0, "run_id": "r1"})
    _put(b, "shared", {"v": "b"}, {"source": "input", "step": 0, "run_id": "r1"})
    assert b.get_tuple(_conf("only-a")) is None
    assert {t.config["configurable"]["thread_id"] for t in b.list(None)} == {"shared"}
    assert [t.checkpoint["channel_values"]["v"] for t in b.list(None)] == ["b"]
    b.delete_thread("only-a")
    b.prune(["only-a", "shared"], strategy="delete")
    b.delete_for_runs(["r1"])
    b.copy_thread("only-a", "stolen")
    assert b.get_tuple(_conf("stolen")) is None
    assert a.get_tuple(_conf("stolen")) is None
    for thread in ("shared", "only-a"):
        t = a.get_tuple(_conf(thread))
        assert t is not None and t.checkpoint["channel_values"] == {"v": "a"}
    assert {t.config["configurable"]["thread_id"] for t in a.list(None)} == {"shared", "only-a"}
