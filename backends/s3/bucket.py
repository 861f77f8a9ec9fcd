"""The bucket itself: creating it (``setup``), and the lifecycle rules that would expire our
objects, since S3 has no TTL (``setup`` warns, ``info`` reports them).

``setup()`` creates the bucket if missing, and warns when a lifecycle rule expires objects under
the prefix (S3 has no TTL; a rule deletes data active threads still read: see
docs/backends/s3.md); without it a missing bucket raises
:class:`~checkpoint_kv.errors.StoreNotFoundError`.
"""

from __future__ import annotations

import warnings
from typing import Any

from botocore.exceptions import ClientError

from checkpoint_kv.backends.s3 import errors
from checkpoint_kv.backends.s3.objects import Objects
from checkpoint_kv.errors import ConfigError, redact_url

__all__ = ["info", "lifecycle_expirations", "setup"]


def setup(objects: Objects, prefix: str, root: str) -> None:
    """Create the bucket if it does not exist (idempotent). On an existing bucket, warn
    when a lifecycle rule expires our objects under ``root`` (see
    :func:`lifecycle_expirations`)."""
    try:
        objects.call("head_bucket")
    except ClientError as e:
        code = errors.code(e)
        if code in ("403", "AccessDenied"):
            return  # it exists; a policy scoped to the prefix may not allow HeadBucket
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
    else:
        rules = lifecycle_expirations(objects, root)
        if rules:
            warnings.warn(
                f"s3://{objects.bucket}/{prefix}: lifecycle rule(s) {', '.join(rules)} "
                "expire checkpoint objects by age, which deletes data that ACTIVE threads "
                "still read (unchanged channel values, DeltaChannel history); they then "
                "fail with CorruptRecordError. Use prune / delete_thread instead "
                "(docs/backends/s3.md, Retention)",
                UserWarning,
                stacklevel=3,  # the line that called S3KV.setup()
            )
        return
    region = objects.client.meta.region_name
    kw: dict[str, Any] = {}
    if region and region != "us-east-1":
        kw["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        objects.call("create_bucket", **kw)
    except ClientError as e:
        code = errors.code(e)
        if code == "BucketAlreadyExists":
            raise ConfigError(
                f"S3 bucket name {objects.bucket!r} is taken by another account: choose another"
            ) from None
        if code != "BucketAlreadyOwnedByYou":
            raise


def lifecycle_expirations(objects: Objects, root: str) -> list[str] | None:
    """The enabled lifecycle rules that expire (``Expiration``) objects under ``root``,
    described as ``'ID' (Days=30)``; ``None`` when the rules cannot be read (no
    ``s3:GetLifecycleConfiguration`` permission, a store without lifecycle support).

    S3 rule prefixes are plain string prefixes, so a rule covers us when it and our root
    (``PREFIX/``) are prefixes of one another: ``ckv`` covers ``ckv1/`` too. Rules that
    filter on tags never match (we tag nothing); ``NoncurrentVersionExpiration`` and
    ``ExpiredObjectDeleteMarker`` touch only deleted data, so they are harmless."""
    try:
        resp = objects.call("get_bucket_lifecycle_configuration")
    except ClientError as e:
        if errors.code(e) == "NoSuchLifecycleConfiguration":
            return []
        return None
    out = []
    for rule in resp.get("Rules", ()):
        expiration = rule.get("Expiration") or {}
        if rule.get("Status") != "Enabled" or not ("Days" in expiration or "Date" in expiration):
            continue
        flt = rule.get("Filter") or {}
        flt = flt.get("And", flt)
        if flt.get("Tag") or flt.get("Tags"):
            continue
        rule_prefix = flt.get("Prefix", rule.get("Prefix", "")) or ""
        if root.startswith(rule_prefix) or rule_prefix.startswith(root):
            when = ", ".join(f"{k}={v}" for k, v in expiration.items() if k in ("Days", "Date"))
            out.append(f"{rule.get('ID', '?')!r} ({when})")
    return out


def info(objects: Objects, prefix: str) -> dict[str, Any]:
    """The port's optional ``info()`` (what ``checkpoint-kv doctor`` reports): bucket,
    region and endpoint, and the lifecycle rules that expire ``prefix`` (S3 has no TTL;
    see docs/backends/s3.md)."""
    try:
        rules = objects.call("get_bucket_lifecycle_configuration")["Rules"]
    except ClientError as e:
        if errors.code(e) != "NoSuchLifecycleConfiguration":
            raise
        rules = []
    covering = [
        r
        for r in rules
        if r.get("Status") == "Enabled" and "Expiration" in r and prefix.startswith(_rule_prefix(r))
    ]
    where = f" at {redact_url(objects.endpoint_url)}" if objects.endpoint_url else ""
    return {
        "server_version": f"S3, bucket {objects.bucket!r}, region "
        f"{objects.client.meta.region_name}{where}",
        "ttl": "lifecycle expiration: " + ", ".join(str(r["Expiration"]) for r in covering)
        if covering
        else "off: no lifecycle rule expires this prefix (S3 has no TTL; see docs/backends/s3.md)",
        "problems": [],
    }


def _rule_prefix(rule: dict[str, Any]) -> str:
    """The key prefix a lifecycle rule filters on (``Filter.Prefix``, or the older ``Prefix``)."""
    return str(rule.get("Filter", {}).get("Prefix", rule.get("Prefix", "")) or "")
