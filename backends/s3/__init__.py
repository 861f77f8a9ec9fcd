"""``s3://BUCKET/PREFIX``: one object per record in an S3 bucket (or MinIO, R2, Ceph RGW...).

The parts, one idea each: :mod:`.config` (the URL, its options, the boto3 client),
:mod:`.layout` (object names, order-inverted so that newest-first is one LIST),
:mod:`.objects` (the requests and their parallel waves), :mod:`.etags` (the value cache,
validated by ETag), :mod:`.writes` (write and drop orders that keep readers safe),
:mod:`.bucket` (setup and lifecycle rules), :mod:`.errors` (botocore's errors as ours),
:mod:`.kv` (:class:`S3KV`, the port). This module is the public surface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checkpoint_kv._renamed import renamed
from checkpoint_kv.backends.s3.config import CONNECT_TIMEOUT as CONNECT_TIMEOUT
from checkpoint_kv.backends.s3.config import MAX_ATTEMPTS as MAX_ATTEMPTS
from checkpoint_kv.backends.s3.config import OPTIONS, url_arguments
from checkpoint_kv.backends.s3.config import READ_TIMEOUT as READ_TIMEOUT
from checkpoint_kv.backends.s3.kv import S3KV
from checkpoint_kv.backends.s3.layout import MAX_PREFIX, decode_key, encode_key

__all__ = ["MAX_PREFIX", "OPTIONS", "S3KV", "decode_key", "encode_key", "from_url"]


def from_url(url: str, **options: Any) -> S3KV:
    """``s3://BUCKET/PREFIX?region=...&endpoint_url=...&max_workers=...``.

    ``client=`` (a boto3 S3 client) is used as it is and never closed; ``session=`` (a
    ``boto3.Session``: its credentials, profile, region) makes the store's client, with this
    URL's options."""
    bucket, prefix, kw = url_arguments(url, options)
    return S3KV(bucket, prefix, **kw)


# --- old names ------------------------------------------------------------------------------
# Deprecated aliases: the adapters were named like LangGraph's memory stores (BaseStore).
if TYPE_CHECKING:
    S3Store = S3KV
else:
    __getattr__ = renamed(
        __name__,
        {
            "S3Store": "S3KV",
        },
    )
