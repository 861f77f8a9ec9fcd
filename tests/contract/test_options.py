"""One option schema (checkpoint_kv/options.py) for every backend's URL and the server's
environment: every spelling the backends accepted before still works, with the same meaning,
and a bad value or an unknown option is refused in one message style."""

from __future__ import annotations

import pytest

from checkpoint_kv import ConfigError
from checkpoint_kv.backends import dynamodb, redis, s3, sqlite
from checkpoint_kv.options import Option, Schema, parse_bool, parse_duration

SCHEMA = Schema(
    "demo",
    [
        Option("ttl", "duration", 0, min=0),
        Option("flag", "bool", True),
        Option("size", "int", 8, min=1, max=64),
        Option("wait", "float", 5.0, above=0),
        Option("mode", "enum", "NORMAL", choices=("NORMAL", "FULL")),
        Option("prefix", "str", "ckv"),
    ],
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3600", 3600),
        ("90s", 90),
        ("15m", 900),
        ("12h", 43200),
        ("30d", 2592000),
        ("1w", 604800),
        (" 2H ", 7200),
        ("1.5h", 5400),
        ("0", 0),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "", "h", "0.5", "inf", "nan", "12x"])
def test_bad_durations(text: str) -> None:
    """``0.5`` would round to 0, which means "no TTL" on Redis: refused, not rounded."""
    with pytest.raises(ValueError):
        parse_duration(text)


def test_bools_every_spelling_of_every_former_parser() -> None:
    for text in ("1", "true", "True", "YES", "on", " on "):
        assert parse_bool(text) is True
    for text in ("0", "false", "False", "no", "OFF"):
        assert parse_bool(text) is False
    with pytest.raises(ValueError):
        parse_bool("maybe")


def test_parse_types_defaults_and_empty_values() -> None:
    assert SCHEMA.parse({}) == {
        "ttl": 0,
        "flag": True,
        "size": 8,
        "wait": 5.0,
        "mode": "NORMAL",
        "prefix": "ckv",
    }
    got = SCHEMA.parse(
        {"ttl": "12h", "flag": "no", "size": "64", "wait": "0.5", "mode": "full", "prefix": "x"}
    )
    assert got == {"ttl": 43200, "flag": False, "size": 64, "wait": 0.5, "mode": "FULL"} | {
        "prefix": "x"
    }
    # empty: the default, except for text, where "" is a value
    assert SCHEMA.parse({"ttl": "", "flag": "", "size": " ", "prefix": ""}) == SCHEMA.parse({}) | {
        "prefix": ""
    }


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("ttl", "-1h", "duration such as 90s, 15m, 12h, 30d (>= 0)"),
        ("flag", "maybe", "true or false"),
        ("size", "0", "an integer (>= 1, <= 64)"),
        ("size", "1.5", "an integer"),
        ("wait", "0", "a number (> 0)"),
        ("mode", "fast", "one of NORMAL, FULL"),
    ],
)
def test_one_message_style(name: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as e:
        SCHEMA.parse({name: value})
    assert str(e.value).startswith(f"demo {name}={value!r}: expected ")
    assert expected in str(e.value)


def test_unknown_option_lists_the_known_and_suggests() -> None:
    with pytest.raises(ConfigError) as e:
        SCHEMA.parse({"tll": "1"})
    msg = str(e.value)
    assert "unknown demo option 'tll'" in msg and "did you mean 'ttl'?" in msg
    assert "known: flag, mode, prefix, size, ttl, wait" in msg
    with pytest.raises(ConfigError) as e:
        SCHEMA.parse({"zzz": "1", "sise": "2"})
    assert "options 'sise', 'zzz'" in str(e.value) and "'size' for 'sise'" in str(e.value)
    assert all(line for line in SCHEMA.describe())


# --- the backends: the same spellings as before, one message style -------------------------


def test_redis_options() -> None:
    cfg = redis.parse_url("redis://h?ttl=3600&ttl_on_read=yes&cluster=0&retries=2", prefix="p")
    assert (cfg.ttl, cfg.ttl_on_read, cfg.cluster, cfg.retries, cfg.prefix) == (
        3600,
        True,
        False,
        2,
        "p",
    )
    assert redis.parse_url("redis://h", ttl_on_read=True, ttl=60).ttl_on_read is True
    assert redis.parse_url("redis://h?ttl=12h").ttl == 43200  # new: durations as on DynamoDB
    assert redis.parse_url("redis://h?cluster=&ttl_on_read=").cluster is False
    with pytest.raises(ConfigError, match=r"redis ttl_on_read='maybe': expected true or false"):
        redis.parse_url("redis://h?ttl_on_read=maybe")
    with pytest.raises(ConfigError, match=r"did you mean 'prefix'\?.*known: client_name"):
        redis.parse_url("redis://h?prefx=a")
    with pytest.raises(ConfigError, match=r"redis prefix='': expected a non-empty prefix"):
        redis.parse_url("redis://h?prefix=")


def test_sqlite_options() -> None:
    store = sqlite.from_url("sqlite:///:memory:?timeout=2.5&synchronous=full")
    assert (store.timeout, store.synchronous) == (2.5, "FULL")
    with pytest.raises(ConfigError, match=r"sqlite synchronous='fast': expected one of OFF"):
        sqlite.from_url("sqlite:///:memory:?synchronous=fast")
    with pytest.raises(ConfigError, match=r"unknown sqlite option 'timout'.*'timeout'"):
        sqlite.from_url("sqlite:///:memory:?timout=1")


def test_dynamodb_options() -> None:
    store = dynamodb.from_url(
        "dynamodb://tbl?region=us-east-1&ttl=30d&consistent_read=off&max_retries=2"
        "&retry_mode=adaptive&read_timeout=3"
    )
    assert (store.ttl, store.consistent_read, store.max_attempts) == (2592000, False, 3)
    assert (store.retry_mode, store.read_timeout) == ("adaptive", 3.0)
    plain = dynamodb.from_url("dynamodb://tbl?region=us-east-1&ttl=&endpoint_url=&prefix=")
    assert (plain.ttl, plain.endpoint_url, plain.prefix, plain.consistent_read) == (
        None,
        None,
        "",
        True,
    )
    with pytest.raises(ConfigError, match=r"dynamodb ttl='0': expected seconds"):
        dynamodb.from_url("dynamodb://tbl?region=us-east-1&ttl=0")
    with pytest.raises(ConfigError, match=r"dynamodb retry_mode='legacy': expected one of"):
        dynamodb.from_url("dynamodb://tbl?region=us-east-1&retry_mode=legacy")


def test_s3_options() -> None:
    store = s3.from_url(
        "s3://bkt/p?region=us-east-1&conditional_writes=off&max_workers=4&cache_mb=0.5"
        "&addressing_style=path&checksums=when_supported"
    )
    assert (store.conditional_writes, store.max_workers) == (False, 4)
    assert store.client.meta.config.s3["addressing_style"] == "path"
    with pytest.raises(ConfigError, match=r"s3 max_workers='0': expected an integer \(>= 1\)"):
        s3.from_url("s3://bkt/p?max_workers=0")
    with pytest.raises(ConfigError, match=r"s3 conditional_writes='maybe': expected true"):
        s3.from_url("s3://bkt/p?conditional_writes=maybe")


async def test_server_setup_flag_spellings(monkeypatch: pytest.MonkeyPatch) -> None:
    from checkpoint_kv import server

    for raw, want in (("1", True), ("yes", True), ("0", False), ("off", False), ("", False)):
        monkeypatch.setenv("CHECKPOINT_KV_SETUP", raw)
        assert server._environment()["CHECKPOINT_KV_SETUP"] is want, raw
    monkeypatch.delenv("CHECKPOINT_KV_SETUP")
    assert server._environment()["CHECKPOINT_KV_SETUP"] is True
    monkeypatch.setenv("CHECKPOINT_KV_SETUP", "maybe")
    with pytest.raises(ConfigError, match=r"^CHECKPOINT_KV_SETUP='maybe': expected true or"):
        server._environment()


def test_s3_client_options_equal_to_the_clients_own_are_accepted() -> None:
    """The client-vs-options check is the one DynamoDB has (backends/_aws.py): an option equal
    to the caller's client's own setting is fine (one URL shared with other code)."""
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", region_name="us-east-1", config=Config(read_timeout=7))
    assert s3.from_url("s3://bkt/p?region=us-east-1&read_timeout=7", client=client).client is client
    with pytest.raises(ConfigError, match=r"s3 option\(s\) read_timeout configure the S3 client"):
        s3.from_url("s3://bkt/p?read_timeout=8", client=client)
