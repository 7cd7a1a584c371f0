"""Size and content digest of the raw files a build was made from: a build whose files changed is stale."""

import hashlib

from etils import epath

_CHUNK_BYTES = 8 << 20


def file_fingerprint(path: epath.PathLike) -> dict:
    """`{"bytes": size, "sha256": hex digest}` of one file, read in chunks."""
    path = epath.Path(path)
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return {"bytes": path.stat().length, "sha256": digest.hexdigest()}


def source_fingerprint(files) -> dict:
    """`{file name: file_fingerprint}` of every raw file a build reads."""
    return {epath.Path(path).name: file_fingerprint(path) for path in files}


def fingerprint_changes(recorded: dict | None, current: dict) -> list[str]:
    """What differs between a build's recorded fingerprint and the current files, one phrase each; [] if nothing."""
    if not recorded:
        return ["the build records no source fingerprint (it was made by an older version of this project)"]
    changes = []
    for name in sorted(set(recorded) | set(current)):
        before, now = recorded.get(name), current.get(name)
        if before is None:
            changes.append(f"{name} is new")
        elif now is None:
            changes.append(f"{name} is gone")
        elif before != now:
            changes.append(f"{name} changed ({before['bytes']:,} -> {now['bytes']:,} bytes, sha256 "
                           f"{before['sha256'][:12]}... -> {now['sha256'][:12]}...)")
    return changes
