"""Passwords in URLs are never printed, whatever they hold.

A property test: passwords of any printable ASCII and non-ASCII characters, percent-encoded or
not (an unencoded ``/``, ``?``, ``#`` or ``@`` used to end the authority inside the password,
and ``bad port in 'redis://admin:Zx9/Qw@...'`` printed its rest), in every URL form that can
carry one (``redis``, ``rediss``, ``valkey``, ``redis+cluster``, ``rediss+cluster``, ``unix``,
``dynamodb``/``ddb`` and ``s3`` with a key and secret, or an ``endpoint_url`` with
credentials). Each URL goes through ``from_url``, ``store_from_url`` and the command line,
against 127.0.0.1 on a port nothing listens on: what is checked is the parse error or the
refused connection, in the exception (its whole chain), the reprs, the log records and the
CLI's output.

Every drawn password holds ``MARK``: a leak of the whole password, of its percent-encoded form,
or of any piece around ``MARK`` shows as ``MARK`` in the text (a short password alone would
match words of the messages by chance).
"""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import checkpoint_kv
from checkpoint_kv import ConfigError
from checkpoint_kv.cli import main
from checkpoint_kv.errors import redact, redact_url

ROOT = Path(__file__).resolve().parents[2]
MARK = "Qz7Kp"


# Port 1 (tcpmux): nothing listens there on a test machine, so connections are refused at
# once. Fixed, not a free port picked at import: the parametrized ids hold it, and every xdist
# worker must collect the same ids.
PORT = 1
HOST = f"127.0.0.1:{PORT}"
FAST = "connect_timeout=0.2&socket_timeout=0.2&retries=0"
AWS_FAST = "region=us-east-1&connect_timeout=0.2&read_timeout=0.2&max_attempts=1"

# Every URL form of the registry's schemes that can carry a password: {u} is the user ("" or
# a name), {p} the password as it appears in the URL. The last three put it in the authority of
# an s3:// or http:// URL, whose path may hold an "@" of its own (s3://bucket/user@example.com):
# there a password with an "@" and, after it, a "/" reads as user:pass@host/path@... to any
# parser, and as that to the redaction too (an AWS secret key holds "/" and "+", never "@").
FORMS = [
    "redis://{u}:{p}@" + HOST + "/0?" + FAST,
    "rediss://{u}:{p}@" + HOST + "/0?" + FAST,
    "valkey://{u}:{p}@" + HOST + "?" + FAST,
    "redis+cluster://{u}:{p}@" + HOST + "?" + FAST,
    "rediss+cluster://{u}:{p}@" + HOST + "?" + FAST,
    "unix://{u}:{p}@/nonexistent/ckv-redaction.sock?" + FAST,
    "dynamodb://{u}:{p}@ckvtable?" + AWS_FAST,
    "ddb://{u}:{p}@ckvtable?" + AWS_FAST,
    "dynamodb://ckvtable?endpoint_url=http://{u}:{p}@" + HOST + "&" + AWS_FAST,
    "s3://{u}:{p}@bucket/prefix?endpoint_url=http://" + HOST + "&" + AWS_FAST,
    "s3://bucket/prefix?endpoint_url=http://{u}:{p}@" + HOST + "&" + AWS_FAST,
]
PATH_MAY_HOLD_AT = set(FORMS[-3:])


def _told_from_a_path(path_may_hold_at: bool, password: str) -> bool:
    """False for the one shape no parser can tell (see ``FORMS``)."""
    return not path_may_hold_at or not re.search("@.*/", password)


# What breaks URLs, and what breaks URL parsers: delimiters, "%" and "+", quotes and spaces,
# brackets (urlsplit's IPv6 check), the fullwidth "@", "/", ":", "?", "#" that NFKC turns into
# delimiters (urlsplit's error then quotes the netloc), other non-ASCII letters.
FULLWIDTH = "\uff20\uff0f\uff1a\uff1f\uff03"
SPECIAL = [*"/?#@:&=%+;,[]'\" \\<>{}|^`~!$*()", *FULLWIDTH, *"éß€中😀", "://", "%40", "%2F"]
CHARS = st.one_of(
    st.sampled_from(SPECIAL),
    st.characters(blacklist_categories=("Cc", "Cs")),  # any printable character
)
PIECE = st.lists(CHARS, max_size=6).map("".join)
PASSWORDS = st.builds(lambda a, b: a + MARK + b, PIECE, PIECE)


def _exception_text(e: BaseException) -> str:
    """str, repr and the whole traceback, causes and contexts included."""
    return str(e) + repr(e) + "".join(traceback.format_exception(e))


def _leaks(text: str, password: str) -> list[str]:
    forms = {password, quote(password, safe=""), quote(password), MARK}
    return [f for f in forms if f in text]


def _collect(url: str, logs: Callable[[], list[logging.LogRecord]]) -> list[tuple[str, str]]:
    """Everything a user can see of ``url``: from_url and store_from_url (their errors, or
    the reprs of what they built and the error of its first call), the CLI, the logs."""
    seen: list[tuple[str, str]] = []
    try:
        saver = checkpoint_kv.from_url(url)
    except Exception as e:
        seen.append(("from_url error", _exception_text(e)))
    else:
        for obj in (saver, saver.store):
            seen.append(("saver repr", repr(obj) + str(obj)))
        try:
            saver.setup()
        except Exception as e:  # refused: nothing listens
            seen.append(("setup error", _exception_text(e)))
        finally:
            saver.close()
    try:
        store = checkpoint_kv.store_from_url(url)
    except Exception as e:
        seen.append(("store_from_url error", _exception_text(e)))
    else:
        seen.append(("store repr", repr(store) + str(store)))
        store.close()
    for argv in (["threads", url], ["--json", "doctor", url]):
        out, err = io.StringIO(), io.StringIO()
        main(argv, stdout=out, stderr=err)
        seen.append((f"cli {argv[0]}", out.getvalue() + err.getvalue()))
    for r in logs():
        seen.append((f"log {r.name}", r.getMessage() + (r.exc_text or "")))
    return seen


@pytest.fixture(scope="module")
def aws_env() -> Iterator[None]:
    """Never the real AWS: a refused endpoint, one attempt, dummy credentials."""
    env = {
        "AWS_ENDPOINT_URL": f"http://{HOST}",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "CHECKPOINT_KV_URL": "",
        "CHECKPOINT_KV_DEBUG": "1",  # the CLI prints the traceback too: it must be clean
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.mark.timeout(120)
@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,  # CI is deterministic
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    form=st.sampled_from(FORMS),
    user=st.sampled_from(["", "admin"]),
    password=PASSWORDS,
    encoded=st.booleans(),
)
def test_a_password_is_never_printed(
    aws_env: None,
    caplog: pytest.LogCaptureFixture,
    form: str,
    user: str,
    password: str,
    encoded: bool,
) -> None:
    assume(_told_from_a_path(form in PATH_MAY_HOLD_AT, password))
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    url = form.format(u=user, p=quote(password, safe="") if encoded else password)
    seen = _collect(url, lambda: caplog.records)
    leaks = {what: _leaks(text, password) for what, text in seen if _leaks(text, password)}
    assert not leaks, f"{url!r}: the password leaked into {leaks}"


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    scheme=st.sampled_from(["redis", "rediss", "redis+cluster", "valkey", "unix", "s3", "http"]),
    user=st.sampled_from(["", "admin"]),
    password=PASSWORDS,
    rest=st.sampled_from(["127.0.0.1:1", "host:6379/0?ttl=1", "bucket/a@b.com", "/tmp/s.sock"]),
)
def test_redact_url_hides_any_password(scheme: str, user: str, password: str, rest: str) -> None:
    """The helper itself, on any URL shape: redact_url() takes the whole string as the URL;
    redact() finds URLs in a text, which end at whitespace or a double quote there."""
    # A Redis URL has no "@" past its host: there the last "@" ends the userinfo.
    assume(scheme in ("s3", "http") or "@" not in rest)
    assume(_told_from_a_path(scheme in ("s3", "http"), password))
    url = f"{scheme}://{user}:{password}@{rest}"
    assert MARK not in redact_url(url), redact_url(url)
    if not any(c.isspace() or c in '"<>' for c in password):
        assert MARK not in redact(f"failed: {url} (retry)"), redact(url)
    encoded = f"{scheme}://{user}:{quote(password, safe='')}@{rest}"
    assert redact_url(encoded) == f"{scheme}://{user}:***@{rest}", redact_url(encoded)


# The reports: the error says to percent-encode, and shows the URL without its credentials.
UNPARSABLE = [
    (f"redis://admin:Zx9/Qw@{HOST}", f"redis://admin:***@{HOST}"),
    (f"redis://:pa?ss@{HOST}", f"redis://:***@{HOST}"),
    (f"redis://:pa#ss@{HOST}/0", f"redis://:***@{HOST}/0"),
    (f"redis://u:p@ss/word@{HOST}/0?{FAST}", f"redis://u:***@{HOST}/0?{FAST}"),
    (f"rediss+cluster://admin:a/b?c#d@{HOST}", f"rediss+cluster://admin:***@{HOST}"),
    (f"valkey://admin:x/y@{HOST}", f"valkey://admin:***@{HOST}"),
    (f"redis://tok?en@{HOST}", f"redis://***@{HOST}"),  # an "@" in an option's name
    ("s3://AKIA:wJal/rXUtnFEMI@bucket/prefix", "s3://AKIA:***@bucket/prefix"),
    ("dynamodb://AKIA:wJal?rXUtnFEMI@ckvtable", "dynamodb://AKIA:***@ckvtable"),
]


@pytest.mark.parametrize(("url", "shown"), UNPARSABLE)
def test_an_unencoded_delimiter_is_reported_without_the_password(
    aws_env: None, url: str, shown: str
) -> None:
    for call in (checkpoint_kv.from_url, checkpoint_kv.store_from_url):
        with pytest.raises(ConfigError) as e:
            call(url)
        msg = str(e.value)
        assert "percent-encode special characters in the password: / -> %2F" in msg, msg
        assert repr(shown) in msg, msg
        assert e.value.__cause__ is None and e.value.__suppress_context__
    out, err = io.StringIO(), io.StringIO()
    assert main(["threads", url], stdout=out, stderr=err) == 2  # a usage error
    assert shown in err.getvalue() and "percent-encode" in err.getvalue()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://admin:a[b]c@{HOST}", f"redis://admin:***@{HOST}"),  # urlsplit: "'b' does not..."
        (f"redis://admin:x\uff20y@{HOST}", f"redis://admin:***@{HOST}"),  # NFKC: quotes netloc
        ("redis://admin:s3cr3tZx9", "redis://admin:***"),  # no "@host": the "port" is hidden
    ],
)
def test_urlsplit_refusals_never_quote_the_password(url: str, shown: str) -> None:
    with pytest.raises(ConfigError) as e:
        checkpoint_kv.from_url(url)
    text = _exception_text(e.value)
    assert repr(shown) in text and "percent-encode" in text
    for piece in ("a[b]c", "'b'", "x\uff20y", "s3cr3tZx9"):
        assert piece not in text


def test_urls_without_credentials_still_parse() -> None:
    """Not refused: an "@" in an S3 prefix, an IPv6 host, a plain URL, a redacted one."""
    assert redact_url("s3://bucket/user@example.com/x") == "s3://bucket/user@example.com/x"
    assert redact_url("redis://[::1]:6379/0") == "redis://[::1]:6379/0"
    checkpoint_kv.from_url(f"redis://[::1]:{PORT}/0?{FAST}").close()
    checkpoint_kv.from_url(f"redis://admin:{quote('a/b?c#d@e', safe='')}@{HOST}/0").close()
    store = checkpoint_kv.store_from_url("memory://")
    store.close()


# The console script itself, in a separate process: its stderr, its exit code.
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "password",
    ["Zx9/Qw" + MARK, "pa?ss" + MARK, "a#b@c" + MARK, "wJal/rX+Ut=" + MARK, "é\uff20/" + MARK],
)
def test_the_console_script_never_prints_it(password: str) -> None:
    url = f"redis://admin:{password}@{HOST}/0?{FAST}"
    env = {**os.environ, "CHECKPOINT_KV_DEBUG": "1", "PYTHONIOENCODING": "utf-8"}
    env.pop("CHECKPOINT_KV_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "checkpoint_kv.cli", "threads", url],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert not _leaks(done.stdout + done.stderr, password), done.stderr
    assert "percent-encode" in done.stderr and "redis://admin:***@127.0.0.1" in done.stderr
