"""The key layout is defined once, in ``checkpoint_kv.keys``: backends import it, and the Redis
Lua scripts, which cannot, are checked against it here (a change of the record suffix or the
store's partition mark would otherwise leave a backend deleting or following the wrong keys)."""

from __future__ import annotations

import re
from pathlib import Path

from checkpoint_kv import keys as K
from checkpoint_kv.port import NO_REFS
from checkpoint_kv.store import layout

BACKENDS = Path(__file__).resolve().parents[2] / "backends"


def test_the_lua_checks_the_record_suffix_the_saver_writes() -> None:
    source = (BACKENDS / "redis" / "scripts.py").read_text()
    checks = re.findall(r"string\.sub\([^,]+, -(\d+)\) == '([^']*)'", source)
    assert checks, "the Redis scripts no longer test for a record key: update this test"
    for width, literal in checks:
        assert literal == K.RECORD_SUFFIX and int(width) == len(K.RECORD_SUFFIX)
    no_refs = re.findall(r"ref ~= '([^']*)'", source)  # a header that references nothing
    assert no_refs and set(no_refs) == {NO_REFS}, no_refs


def test_no_backend_re_codes_the_layout() -> None:
    for path in BACKENDS.rglob("*.py"):  # the packages' modules too (backends/redis/)
        code = "\n".join(
            line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
        )
        python = re.sub(r'r?"""[\s\S]*?"""', "", code)  # docstrings may show keys
        python = re.sub(r"'''[\s\S]*?'''", "", python)
        python = re.sub(r'(_SCRIPT|_LUA)\w* = r?"""[\s\S]*?"""', "", python)
        assert '"!~"' not in python and '"c!"' not in python, path.relative_to(BACKENDS)


def test_one_partition_mark() -> None:
    assert layout.STORE_PREFIX is K.STORE_MARK
    assert K.is_checkpoint_record(K.record_key("ns", "1f0")) and not K.is_checkpoint_record(
        K.mark_key("ns", "1f0")
    )
