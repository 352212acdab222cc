"""Shared fixtures: the fixture hub (the `fixture_hub` example binary, on loopback) serving real
checkpoint files, the repository's paths, and an environment that reaches no Hub.

scripts/test.sh builds what these need and names it: CAPCACHE_FIXTURE_HUB (the fixture hub
binary) and CAPCACHE_RUST_CLI (the Rust `capcache` binary, to compare the package's command with).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
OPT_SKELETON = FIXTURES / "pytorch" / "opt-125m-skeleton"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))

# The variables through which capcache or huggingface_hub could find a token, an endpoint, a cache,
# a db, or be told to stay offline.
HF_VARIABLES = (
    "HF_TOKEN",
    "HF_TOKEN_PATH",
    "HF_HOME",
    "HF_ENDPOINT",
    "HF_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "CAPCACHE_DB",
)


def built(variable: str, default: Path) -> Path:
    path = Path(os.environ.get(variable, default)).resolve()
    if not path.exists():
        pytest.fail(f"{path} is missing: run scripts/test.sh (it builds it), or set {variable}")
    return path


# Connections Python code opens while a test watches (see `no_python_network`), and whether the
# tests' own requests to the fixture hub's control endpoints are under way.
_connections: List[tuple] = []
_state = {"watching": False, "control": False}


def _audit(event: str, args: tuple) -> None:
    if _state["watching"] and not _state["control"] and event in ("socket.connect", "socket.getaddrinfo"):
        _connections.append((event, args[1:]))
        raise RuntimeError(f"a test that reaches no network opened a connection: {event} {args[1:]}")


sys.addaudithook(_audit)


@pytest.fixture
def no_python_network() -> Iterator[None]:
    """Fails the test if Python code (huggingface_hub, transformers, llm-d) opens any connection,
    to the Hub or anywhere else (the attempt raises, and is reported here even when the code under
    test swallows the error); capcache's own requests go from Rust, unseen here, to the fixture
    hub."""
    _connections.clear()
    _state["watching"] = True
    try:
        yield
    finally:
        _state["watching"] = False
    assert _connections == [], "Python code opened connections"


@dataclass
class Hub:
    url: str
    token: str

    def _control(self, what: str) -> Dict[str, int]:
        _state["control"] = True
        try:
            with urllib.request.urlopen(f"{self.url}/_fixture/{what}") as r:
                return json.load(r)
        finally:
            _state["control"] = False

    def stats(self) -> Dict[str, int]:
        """Requests and bytes served since the last reset."""
        return self._control("stats")

    def reset(self) -> None:
        self._control("reset")


def start_hub(args: List[str]) -> subprocess.Popen:
    binary = built("CAPCACHE_FIXTURE_HUB", TARGET / "debug" / "examples" / "fixture_hub")
    proc = subprocess.Popen([str(binary), *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """The fixture hub: facebook/opt-125m (the real checkpoint's skeleton: pytorch_model.bin, no
    safetensors), fixtures/llama-bf16 (a torch checkpoint), gated/llama (needs the token),
    limited/llama (always 429), broken/weights (a model.safetensors that is not one). Any other
    id is not found."""
    broken = tmp_path_factory.mktemp("broken")
    (broken / "model.safetensors").write_bytes(b"\xff" * 64)
    llama = FIXTURES / "pytorch" / "llama-bf16"
    token = "hf_fixture_token_1234"
    proc = start_hub(
        [
            "--latency-ms", "0",
            "--skeleton", f"facebook/opt-125m={OPT_SKELETON}",
            "--repo", f"fixtures/llama-bf16={llama}",
            "--repo", f"gated/llama={llama}",
            "--repo", f"limited/llama={llama}",
            "--repo", f"broken/weights={broken}",
            "--gated", "gated/llama",
            "--token", token,
            "--rate-limited", "limited/llama",
        ]
    )
    try:
        url = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:"), url
        yield Hub(url, token)
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def slow_hub() -> Iterator[str]:
    """A second fixture hub whose every answer takes 200 ms, serving facebook/opt-125m."""
    proc = start_hub(["--latency-ms", "200", "--skeleton", f"facebook/opt-125m={OPT_SKELETON}"])
    try:
        yield proc.stdout.readline().strip()  # type: ignore[union-attr]
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(autouse=True)
def no_hub_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No token, endpoint or db from the machine: HF_HOME is an empty folder of the test's."""
    for name in HF_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    # Where capcache.update() installs and get() looks: the test's own.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.fixture
def empty_db(tmp_path: Path) -> Path:
    """A db.json with no models: capcache's cache knows nothing, so answers come from the hub."""
    path = tmp_path / "empty-db.json"
    path.write_text(json.dumps({"schema": 1, "models": {}, "failures": {}}))
    return path


def expected_opt_parameters() -> Dict[str, int]:
    """What torch counts in the real facebook/opt-125m checkpoint (tests/fixtures/...)."""
    return json.loads((OPT_SKELETON / "expected.json").read_text())["parameters"]


def run_cli(args: List[str], *, env: Dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The package's `capcache` command (the venv's console script)."""
    command = Path(sys.executable).with_name("capcache")
    return subprocess.run([str(command), *args], capture_output=True, text=True, env=env, cwd=cwd)


def run_rust_cli(args: List[str], *, env: Dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The Rust `capcache` binary."""
    binary = built("CAPCACHE_RUST_CLI", TARGET / "debug" / "capcache")
    return subprocess.run([str(binary), *args], capture_output=True, text=True, env=env, cwd=cwd)
