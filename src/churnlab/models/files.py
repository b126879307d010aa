"""Integrity of a saved model: every file's size and sha256 are recorded in its metadata
(``churnlab.json``) when it is saved, and checked before any parser (LightGBM, numpy, json)
reads the file, so that a truncated, emptied or changed file is refused with one error
naming it instead of crashing the process inside LightGBM.

The metadata file cannot hold its own checksum; it holds the sha256 of its content without
that entry (``metadata_sha256``, over a canonical JSON form), checked the same way.
Metadata saved without checksums (older models) is read as before, with what is recorded
checked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

__all__ = ["FILES_KEY", "META_KEY", "ModelFileError", "read_metadata", "record_checksums", "verify_files"]

FILES_KEY = "file_sha256"  # {file name: {"sha256": hex, "bytes": size}} of the files beside the metadata
META_KEY = "metadata_sha256"  # sha256 of the metadata's canonical JSON without this key


class ModelFileError(RuntimeError):
    """A model file is missing, empty, or not the file that was saved.

    Attributes
    ----------
    path : Path
        The file.
    problem : str
        What is wrong with it, e.g. "is truncated (100 of 3100 bytes)".
    """

    def __init__(self, path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path} {problem}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _canonical_digest(meta: dict) -> str:
    """sha256 of ``meta`` without :data:`META_KEY`, as canonical JSON (sorted keys, no spaces):
    the same for the dict that was written and for the dict read back from the file."""
    body = {k: v for k, v in meta.items() if k != META_KEY}
    text = json.dumps(json.loads(json.dumps(body, default=str)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def record_checksums(meta: dict, files: Iterable) -> dict:
    """``meta`` with the size and sha256 of each of ``files`` (paths beside the metadata file)
    and the digest of the metadata itself; write it after the files.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "m.txt").write_text("tree")
    >>> meta = record_checksums({"model_type": "x"}, [d / "m.txt"])
    >>> meta["file_sha256"]["m.txt"]["bytes"]
    4
    """
    out = {k: v for k, v in meta.items() if k not in (FILES_KEY, META_KEY)}
    out[FILES_KEY] = {Path(p).name: {"sha256": _sha256(Path(p)), "bytes": Path(p).stat().st_size} for p in files}
    out[META_KEY] = _canonical_digest(out)
    return out


def read_metadata(meta_path) -> dict:
    """The metadata (``churnlab.json``) of a saved model, checked: present, not empty, JSON
    holding an object, and unchanged since it was saved when it records its digest.

    Raises
    ------
    ModelFileError
        Naming the file and the problem.
    """
    path = Path(meta_path)
    if not path.is_file():
        raise ModelFileError(path, "is missing")
    raw = path.read_bytes()
    if not raw.strip():
        raise ModelFileError(path, f"is empty ({len(raw)} bytes)")
    try:
        meta = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(path, f"is not valid JSON (damaged or truncated: {exc})") from None
    if not isinstance(meta, dict):
        raise ModelFileError(path, f"holds a JSON {type(meta).__name__}, not a model's metadata object")
    recorded = meta.get(META_KEY)
    if recorded is not None and recorded != _canonical_digest(meta):
        raise ModelFileError(path, "differs from the metadata that was saved (sha256 mismatch): the file was changed or damaged")
    return meta


def verify_files(meta: dict, folder, required: Iterable[str] = ()) -> set[str]:
    """Check every file whose checksum ``meta`` records, in ``folder``, before it is parsed;
    ``required`` files must exist and not be empty even when nothing is recorded (older
    models). Returns the names of the files verified against a checksum.

    Raises
    ------
    ModelFileError
        A required or recorded file is missing or empty, or a recorded file's size or sha256
        differs from the one saved.
    """
    folder = Path(folder)
    recorded = meta.get(FILES_KEY) or {}
    if not isinstance(recorded, dict):
        raise ModelFileError(folder, f"has metadata whose `{FILES_KEY}` is not a mapping of file names")
    for name in required:
        path = folder / name
        if not path.is_file():
            raise ModelFileError(path, "is missing")
        if name not in recorded and path.stat().st_size == 0:
            raise ModelFileError(path, "is empty (0 bytes)")
    for name, entry in recorded.items():
        path = folder / Path(str(name)).name  # names only: a checksum never points outside the folder
        if not path.is_file():
            raise ModelFileError(path, "is missing (the model's metadata records it)")
        size = path.stat().st_size
        want = entry.get("bytes") if isinstance(entry, dict) else None
        digest = entry.get("sha256") if isinstance(entry, dict) else entry
        if want is not None and size != want:
            kind = "is empty" if size == 0 else ("is truncated" if size < want else "is longer than the file saved")
            raise ModelFileError(path, f"{kind} ({size:,} of {int(want):,} bytes): damaged since it was saved")
        if _sha256(path) != digest:
            raise ModelFileError(path, "differs from the file that was saved (sha256 mismatch): damaged or changed")
    return set(map(str, recorded))
