"""The tag of the platform's image, derived from its source: it changes exactly when what the Dockerfile builds from does.

``image_tag: auto`` (the default) resolves to ``src-<16 hex digits>``, the SHA-256 of the image's sources (``IMAGE_SOURCES``
under ``container/``: every file's path and bytes, caches left out). The delivery pipeline builds and pushes the image
under that tag (``tools/ship_image.py``) and the app points the training pipeline and the project analyzer at it, both
computing it here: a change to the container's code or dependencies ships a new image and starts one training run per
project; a change elsewhere (a README included) leaves the tag, the templates and the models alone. Tags are immutable
in the repositories, so a tag always names the same image.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

CONTAINER_DIR = Path(__file__).resolve().parent.parent / "container"
AUTO = "auto"
TAG_PREFIX = "src-"
# What the Dockerfile copies into the image, and the Dockerfile itself (tests/test_image_tag.py reads its COPY lines).
IMAGE_SOURCES = ("Dockerfile", "requirements.txt", "requirements-mlflow.txt", "mlops_container", "bin")


def _files(directory: Path) -> list[Path]:
    files = []
    for source in IMAGE_SOURCES:
        path = directory / source
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        for f in candidates:
            relative = f.relative_to(directory).parts
            if f.is_file() and "__pycache__" not in relative and not any(p.startswith(".") for p in relative) and f.suffix != ".pyc":
                files.append(f)
    return sorted(files)


@functools.lru_cache(maxsize=8)
def content_tag(directory: Path = CONTAINER_DIR) -> str:
    """``src-`` and the first 16 hex digits of the SHA-256 of the image's sources in ``directory``: read once per process
    and directory (a synth resolves it for every project's pipeline, analyzer and endpoint)."""
    digest = hashlib.sha256()
    files = _files(directory)
    if not files:
        raise FileNotFoundError(f"no image source under {directory} ({', '.join(IMAGE_SOURCES)})")
    for f in files:
        digest.update(f.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(f.read_bytes() + b"\0")
    return f"{TAG_PREFIX}{digest.hexdigest()[:16]}"


def resolved_tag(configured: str) -> str:
    """The tag the app uses: ``configured``, or the content tag for ``auto``."""
    return content_tag() if configured == AUTO else configured
