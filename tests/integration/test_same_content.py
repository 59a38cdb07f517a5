"""An object already in the bucket is recognised as the local clip whatever part size sent it
(issue 8 items 5 and 19): never a keep_both twin of identical bytes, never a re-upload.

Run on every store of the suite: SeaweedFS returns a composite checksum as "<b64>-N",
moto's server without the "-N".
"""

from __future__ import annotations

import shutil

import pytest
from boto3.s3.transfer import TransferConfig

from .harness import Camp, assert_clean_stderr

MiB = 1024 * 1024


def chunks(part_mb: int) -> str:
    return f"transfer:\n  multipart_threshold_mb: 5\n  multipart_chunksize_mb: {part_mb}\n"


def stamps(camp: Camp) -> dict[str, object]:
    """Each object's identity: a re-upload changes its LastModified and usually its ETag."""
    out = {}
    for key in camp.objects():
        head = camp.s3.head_object(Bucket=camp.bucket, Key=key)
        out[key] = (head["LastModified"], head["ETag"])
    return out


def test_a_lost_manifest_after_a_part_size_change_adopts_the_clip(camp: Camp) -> None:
    camp.write_config(chunks(16))
    camp.file("cam1/clip.mp4", 40_000_000)  # 3 parts of 16 MiB
    assert camp.run("--once").returncode == 0
    before = stamps(camp)
    assert before[f"{camp.prefix}cam1/clip.mp4"][1].endswith('-3"')
    camp.write_config(chunks(8))  # the admin changes the part size, then loses the state dir
    shutil.rmtree(camp.state_dir)

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    assert "adopted 1" in result.stderr, result.stderr
    assert "Uploading" not in result.stderr and "keeping both" not in result.stderr
    assert stamps(camp) == before  # nothing sent again, no twin
    assert camp.objects() == camp.expected()


@pytest.mark.parametrize("manifest_exists", [False, True], ids=["listed", "conditional_put"])
def test_a_clip_another_tool_uploaded_with_its_own_parts_and_checksum_is_adopted(
        camp: Camp, manifest_exists: bool) -> None:
    """10 MiB parts (no size camup-sync would guess) and a CRC32 where camup-sync keeps SHA-256:
    the checksum cannot be compared, so the multipart ETag decides, hashed with the part
    size learned from the store."""
    camp.write_config(chunks(16))
    if manifest_exists:  # no listing due: the HEAD before the multipart upload finds it
        camp.file("cam1/seed.jpg", 1_000)
        assert camp.run("--once").returncode == 0
    path = camp.file("cam1/clip.mp4", 25 * MiB + 5)
    key = f"{camp.prefix}cam1/clip.mp4"
    with path.open("rb") as fh:
        camp.s3.upload_fileobj(fh, camp.bucket, key, ExtraArgs={"ChecksumAlgorithm": "CRC32"},
                               Config=TransferConfig(multipart_threshold=5 * MiB,
                                                     multipart_chunksize=10 * MiB))
    before = stamps(camp)
    assert before[key][1].endswith('-3"')

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result)
    assert "keeping both" not in result.stderr, result.stderr
    assert "adopted 1" in result.stderr and "uploaded 0 " in result.stderr, result.stderr
    assert stamps(camp) == before
    assert camp.objects() == camp.expected()


def test_other_bytes_under_the_key_are_still_kept_apart(camp: Camp) -> None:
    """The looser comparison must not adopt what differs: same size, other bytes."""
    camp.write_config(chunks(16))
    path = camp.file("cam1/clip.mp4", 20 * MiB)
    key = f"{camp.prefix}cam1/clip.mp4"
    other = bytearray(path.read_bytes())
    other[-1] ^= 1
    camp.s3.put_object(Bucket=camp.bucket, Key=key, Body=bytes(other))

    result = camp.run("--once")

    assert result.returncode == 0, result.stderr
    assert "keeping both" in result.stderr, result.stderr
    objects = camp.objects()
    assert objects.pop(key) == bytes(other)
    assert list(objects.values()) == [path.read_bytes()]
