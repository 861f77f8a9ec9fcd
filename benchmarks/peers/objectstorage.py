"""langgraph-checkpoint-objectstorage on S3 (moto server) through s3fs / aiobotocore."""

from __future__ import annotations

from typing import Any

from benchmarks.counting import Recorder, patch_botocore
from benchmarks.peers import Handle, safe_name

LABEL = "langgraph-checkpoint-objectstorage"
UNIT = "API calls"
VENV = "objectstorage"
SERVICE = "moto"
IMPORT = "from langgraph_checkpoint_objectstorage import ObjectStorageSaver"


def open(ctx: dict[str, Any], workload: str, rec: Recorder) -> Handle:
    import s3fs
    from langgraph_checkpoint_objectstorage import ObjectStorageSaver

    endpoint = ctx["services"]["moto"]
    bucket = safe_name("objstore", workload)
    admin = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)
    admin.mkdir(bucket)
    saver = ObjectStorageSaver.from_conn_string(f"s3://{bucket}/lg", endpoint_url=endpoint)
    patch_botocore(rec)

    def held() -> dict[str, int]:
        files = admin.find(f"{bucket}/lg", detail=True, refresh=True)
        return {"bytes": sum(int(f.get("size", 0)) for f in files.values()), "objects": len(files)}

    return Handle(saver, held)
