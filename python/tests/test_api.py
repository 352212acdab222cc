"""The capcache module against the fixture hub and the repository's fixtures, and the package's
`capcache` command against the Rust binary."""

from __future__ import annotations

import _thread
import ast
import inspect
import json
import os
import pickle
import signal
import threading
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, OPT_SKELETON, ROOT, Hub, expected_opt_parameters, run_cli, run_rust_cli

import capcache
from capcache import _native

OPT = "facebook/opt-125m"


def without_time(record: dict) -> dict:
    """A record less `resolved_at` (the time it was made)."""
    return {k: v for k, v in record.items() if k != "resolved_at"}


# --- get -------------------------------------------------------------------------------------


def test_get_answers_from_the_db_inside_the_package() -> None:
    shipped = json.loads((ROOT / "db.json").read_text())["models"]
    record = capcache.get(OPT)
    assert record == {**shipped[OPT], "id": OPT}
    assert capcache.get("nobody/nothing") is None


def test_get_reads_the_db_argument_then_capcache_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = json.loads((ROOT / "db.json").read_text())
    # A record told apart by its commit (stores are checked: a total that is not the sum of the
    # parameters would be refused).
    mark = "f" * 40
    db["models"][OPT]["revision"] = mark
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps(db))
    assert capcache.get(OPT, db=mine)["revision"] == mark
    assert capcache.get(OPT, db=str(mine))["revision"] == mark
    assert capcache.get(OPT)["revision"] != mark
    monkeypatch.setenv("CAPCACHE_DB", str(mine))
    assert capcache.get(OPT)["revision"] == mark
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"schema": 1, "models": {}, "failures": {}}))
    assert capcache.get(OPT, db=empty) is None, "the argument wins over $CAPCACHE_DB"


def test_get_reads_a_sqlite_store_built_by_the_cli(tmp_path: Path) -> None:
    source = tmp_path / "models" / "fixtures"
    source.mkdir(parents=True)
    (source / "llama-bf16").symlink_to(FIXTURES / "pytorch" / "llama-bf16")
    (tmp_path / "models.txt").write_text("fixtures/llama-bf16\n")
    built = run_cli(
        ["build", "--models", "models.txt", "--source", str(tmp_path / "models"), "--sqlite", "s.sqlite", "--db", "out.json"],
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr
    record = capcache.get("fixtures/llama-bf16", db=tmp_path / "s.sqlite")
    expected = json.loads((FIXTURES / "pytorch" / "llama-bf16" / "expected.json").read_text())
    assert record is not None and record["parameters"] == expected["parameters"]
    assert record == capcache.get("fixtures/llama-bf16", db=tmp_path / "out.json")


def test_get_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a model id"):
        capcache.get("https://huggingface.co/facebook/opt-125m")
    corrupt = tmp_path / "db.json"
    corrupt.write_text("{not json")
    with pytest.raises(capcache.CapcacheError, match="db.json") as e:
        capcache.get(OPT, db=corrupt)
    assert e.value.model_id == OPT
    assert corrupt.read_text() == "{not json", "a bad cache is never rewritten"


# --- resolve ---------------------------------------------------------------------------------


def test_resolve_reads_the_checkpoint_from_the_hub(hub: Hub) -> None:
    record = capcache.resolve(OPT, endpoint=hub.url)
    assert record["id"] == OPT
    assert (record["strategy"], record["exact"]) == ("pytorch", True)
    assert record["parameters"] == expected_opt_parameters()
    assert record["architecture"]["num_key_value_heads"] == record["architecture"]["num_attention_heads"]
    cli = run_cli(["resolve", OPT, "--json", "--endpoint", hub.url])
    assert cli.returncode == 0, cli.stderr
    assert without_time(json.loads(cli.stdout)) == without_time(record)


def test_resolve_takes_the_endpoint_and_token_from_the_environment(hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    assert capcache.resolve(OPT)["strategy"] == "pytorch"
    with pytest.raises(capcache.GatedRepoError):
        capcache.resolve("gated/llama")
    token_file = tmp_path / "token"
    token_file.write_text(hub.token + "\n")
    monkeypatch.setenv("HF_TOKEN_PATH", str(token_file))
    assert capcache.resolve("gated/llama")["strategy"] == "pytorch"
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(capcache.GatedRepoError):
        capcache.resolve("gated/llama")
    assert capcache.resolve("gated/llama", token=hub.token)["strategy"] == "pytorch", "the argument wins"


def test_resolve_stays_offline_under_hf_hub_offline(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.reset()
    with pytest.raises(capcache.CapcacheError) as e:
        capcache.resolve(OPT, endpoint=hub.url)
    assert e.value.outcome == "offline"
    assert hub.stats()["requests"] == 0
    assert capcache.params_by_dtype("fixtures/llama-bf16", endpoint=hub.url) is None


def test_errors_name_python_keywords_not_command_line_flags(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(capcache.CapcacheError) as e:
        capcache.resolve(OPT, endpoint=hub.url, allow_download=True)
    assert "allow_download=True" in str(e.value) and "--" not in str(e.value), str(e.value)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    # A gated model: the failure's message names the keyword the caller can pass.
    with pytest.raises(capcache.GatedRepoError) as gated:
        capcache.resolve("gated/llama", endpoint=hub.url)
    assert "token=" in str(gated.value) and "--token" not in str(gated.value), str(gated.value)
    with pytest.raises(capcache.CapcacheError) as bad:
        capcache.resolve(OPT, endpoint=hub.url, strategies=["download"])
    assert "allow_download=True" in str(bad.value) and "--" not in str(bad.value), str(bad.value)


def test_resolve_revision_and_strategies(hub: Hub) -> None:
    sha = capcache.resolve(OPT, endpoint=hub.url)["revision"]
    assert capcache.resolve(OPT, endpoint=hub.url, revision=sha)["revision"] == sha
    estimate = capcache.resolve(OPT, endpoint=hub.url, strategies=["config"])
    assert (estimate["strategy"], estimate["exact"]) == ("config", False)
    assert capcache.resolve(OPT, endpoint=hub.url, strategies="hub-metadata,pytorch")["strategy"] == "pytorch"
    with pytest.raises(capcache.CapcacheError, match="unknown strategy"):
        capcache.resolve(OPT, endpoint=hub.url, strategies=["guess"])
    with pytest.raises(ValueError):
        capcache.resolve(OPT, endpoint=hub.url, revision="../main")


@pytest.mark.parametrize(
    ("model", "kwargs", "error", "outcome"),
    [
        ("gated/llama", {}, capcache.GatedRepoError, "gated"),
        ("gated/llama", {"token": "hf_not_granted"}, capcache.GatedRepoError, "gated"),
        ("nobody/nothing", {}, capcache.RepositoryNotFoundError, "not-found"),
        ("fixtures/llama-bf16", {"revision": "v9"}, capcache.RevisionNotFoundError, "revision-not-found"),
        ("limited/llama", {}, capcache.RateLimitedError, "rate-limited"),
        ("broken/weights", {}, capcache.InvalidFileError, "invalid-file"),
    ],
)
def test_failures_raise_typed_exceptions(hub: Hub, model: str, kwargs: dict, error: type, outcome: str) -> None:
    with pytest.raises(error) as e:
        capcache.resolve(model, endpoint=hub.url, **kwargs)
    assert isinstance(e.value, capcache.CapcacheError)
    assert (e.value.model_id, e.value.outcome) == (model, outcome)
    assert model in str(e.value) and e.value.message in str(e.value)
    assert "hf_not_granted" not in e.value.message
    if outcome == "invalid-file":
        assert "model.safetensors" in e.value.message
        assert {"strategy": "safetensors", "outcome": "invalid-file"}.items() <= e.value.tried[1].items()
    copy = pickle.loads(pickle.dumps(e.value))
    assert (type(copy), copy.model_id, copy.message, copy.outcome) == (error, model, e.value.message, outcome)


def test_resolve_releases_the_gil(slow_hub: str) -> None:
    done: list = []
    worker = threading.Thread(target=lambda: done.append(capcache.resolve(OPT, endpoint=slow_hub)))
    worker.start()
    turns = 0
    while worker.is_alive():
        turns += 1
        time.sleep(0.001)
    worker.join()
    assert done and done[0]["strategy"] == "pytorch"
    # Five requests of 200 ms each: a thread that kept the GIL would leave this loop no turn.
    assert turns > 100, turns


# --- estimate --------------------------------------------------------------------------------


@pytest.mark.parametrize("config", sorted((FIXTURES / "configs").glob("*.json")), ids=lambda p: p.stem)
def test_estimate_equals_the_cli(config: Path) -> None:
    cli = run_cli(["estimate", str(config), "--json"])
    assert cli.returncode == 0, cli.stderr
    record = capcache.estimate(config)
    assert without_time(record) == without_time(json.loads(cli.stdout))
    rust = run_rust_cli(["estimate", str(config), "--json"])
    assert without_time(json.loads(rust.stdout)) == without_time(record), "the package's command is the binary's"


def test_estimate_takes_a_folder_a_dict_or_a_path() -> None:
    by_path = capcache.estimate(str(OPT_SKELETON / "config.json"))
    by_folder = capcache.estimate(OPT_SKELETON)
    assert without_time(by_folder) == without_time(by_path)
    by_dict = capcache.estimate(json.loads((OPT_SKELETON / "config.json").read_text()))
    assert by_dict["id"] == "config.json" and by_dict["files"] == ["config.json"]
    same = {k: v for k, v in by_path.items() if k not in ("id", "files", "resolved_at")}
    assert {k: by_dict[k] for k in same} == same
    assert by_path["parameters"] == expected_opt_parameters(), "the config count equals torch's for OPT"


def test_estimate_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        capcache.estimate(tmp_path / "nothing.json")
    bad = tmp_path / "config.json"
    bad.write_text("{")
    with pytest.raises(capcache.CapcacheError, match="invalid-config"):
        capcache.estimate(tmp_path)
    with pytest.raises(capcache.CapcacheError, match="nonsense"):
        capcache.estimate({"model_type": "nonsense"})


# --- params_by_dtype -------------------------------------------------------------------------


def test_params_by_dtype_prefers_an_exact_answer(hub: Hub, empty_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    shipped = json.loads((ROOT / "db.json").read_text())["models"][OPT]
    assert shipped["exact"] is False, "the shipped record of opt-125m is an estimate from config.json"
    # The cache holds an estimate: an exact count is a request away, and is the answer.
    hub.reset()
    assert capcache.params_by_dtype(OPT, endpoint=hub.url) == expected_opt_parameters()
    assert hub.stats()["requests"] > 0
    assert capcache.best_record(OPT, endpoint=hub.url)["exact"] is True
    # Unless told to take the cache's word.
    hub.reset()
    assert capcache.params_by_dtype(OPT, endpoint=hub.url, prefer_exact=False) == shipped["parameters"]
    assert hub.stats()["requests"] == 0
    # Offline, the cached estimate is the answer, with a warning saying why.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    (tmp_path / "hf" / "hub").mkdir(parents=True)
    with caplog.at_level("WARNING", logger="capcache"):
        assert capcache.params_by_dtype(OPT, endpoint=hub.url) == shipped["parameters"]
    assert any("cached estimate" in r.getMessage() for r in caplog.records), caplog.records
    monkeypatch.delenv("HF_HUB_OFFLINE")
    # An exact cached record costs no request.
    exact = capcache.resolve(OPT, endpoint=hub.url)
    del exact["id"]
    db = tmp_path / "exact.json"
    db.write_text(json.dumps({"schema": 1, "models": {OPT: exact}, "failures": {}}))
    monkeypatch.setenv("CAPCACHE_DB", str(db))
    hub.reset()
    assert capcache.params_by_dtype(OPT, endpoint=hub.url) == expected_opt_parameters()
    assert hub.stats()["requests"] == 0
    # Nothing cached: a live resolve.
    monkeypatch.setenv("CAPCACHE_DB", str(empty_db))
    assert capcache.params_by_dtype(OPT, endpoint=hub.url) == expected_opt_parameters()
    assert capcache.params_by_dtype("gated/llama", endpoint=hub.url, token=hub.token) is not None


def test_exceptions_are_huggingface_hubs_too(hub: Hub) -> None:
    from huggingface_hub import errors as hf

    with pytest.raises(hf.GatedRepoError) as gated:
        capcache.resolve("gated/llama", endpoint=hub.url)
    assert isinstance(gated.value, capcache.GatedRepoError) and isinstance(gated.value, capcache.RepositoryNotFoundError)
    assert gated.value.response is None and gated.value.outcome == "gated"
    with pytest.raises(hf.RepositoryNotFoundError):
        capcache.resolve("nobody/nothing", endpoint=hub.url)
    with pytest.raises(hf.RevisionNotFoundError):
        capcache.resolve(OPT, endpoint=hub.url, revision="no-such-branch")
    again = pickle.loads(pickle.dumps(gated.value))
    assert type(again) is capcache.GatedRepoError and again.model_id == "gated/llama" and again.outcome == "gated"


def test_an_adapter_is_never_counted_as_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import capcache.llmd

    # An exact record of an adapter-only repository, as capcache records one.
    record = capcache.get(OPT)
    assert record is not None
    adapter = {k: v for k, v in record.items() if k != "id"}
    adapter["adapter"] = {"base_model": OPT, "peft_type": "LORA"}
    db = tmp_path / "db.json"
    db.write_text(json.dumps({"schema": 1, "models": {"someone/opt-lora": adapter}, "failures": {}}))
    monkeypatch.setenv("CAPCACHE_DB", str(db))
    found = capcache.get("someone/opt-lora")
    assert found is not None and found["adapter"]["base_model"] == OPT, "the record itself is served"
    with pytest.raises(capcache.CapcacheError) as e:
        capcache.model_record(found)
    assert e.value.outcome == "adapter" and f"adapter (LORA) of {OPT}" in str(e.value), str(e.value)
    assert capcache.model_record(capcache.get(OPT) or {}) is not None, "a model's record passes"
    with caplog.at_level("WARNING", logger="capcache"):
        assert capcache.params_by_dtype("someone/opt-lora", prefer_exact=False) is None
    assert "count the base model" in caplog.text
    assert capcache.llmd.get_model_params_fallback("someone/opt-lora", None) is None


@pytest.mark.parametrize("model", ["nobody/nothing", "gated/llama", "broken/weights"])
def test_params_by_dtype_is_none_when_nothing_can_count_the_model(hub: Hub, empty_db: Path, monkeypatch: pytest.MonkeyPatch, model: str) -> None:
    monkeypatch.setenv("CAPCACHE_DB", str(empty_db))
    assert capcache.params_by_dtype(model, endpoint=hub.url) is None


# --- the command and the stubs ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["--version"], ["--help"], ["get", OPT, "--json"], ["get", "nobody/nothing"], ["stats", "--json"], ["get"], ["frobnicate"]],
    ids=" ".join,
)
def test_command_is_the_binary(args: list, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CAPCACHE_DB"}
    ours, rust = run_cli(args, env=env, cwd=tmp_path), run_rust_cli(args, env=env, cwd=tmp_path)
    assert (ours.returncode, ours.stdout, ours.stderr) == (rust.returncode, rust.stdout, rust.stderr)


def test_command_exit_codes(tmp_path: Path) -> None:
    assert run_cli(["get", OPT], cwd=tmp_path).returncode == 0
    assert run_cli(["get", "nobody/nothing"], cwd=tmp_path).returncode == 1
    assert run_cli(["get", "not an id"], cwd=tmp_path).returncode == 2
    assert _native.main(["capcache", "get", OPT, "--db", str(tmp_path / "absent.json")]) == 2


def test_stubs_match_the_extension() -> None:
    stub = ast.parse((Path(capcache.__file__).parent / "_native.pyi").read_text())
    stubbed = {f.name: [a.arg for a in f.args.args] for f in stub.body if isinstance(f, ast.FunctionDef)}
    native = {name: list(inspect.signature(getattr(_native, name)).parameters) for name in stubbed}
    assert stubbed == native
    public = {n for n in dir(_native) if not n.startswith("_") and callable(getattr(_native, n))}
    assert public == set(stubbed)
    assert (Path(capcache.__file__).parent / "py.typed").exists()


def test_ctrl_c_interrupts_a_slow_resolve_at_once(slow_hub: str, request: pytest.FixtureRequest) -> None:
    # Five requests of 200 ms each; a Ctrl-C (SIGINT to the main thread) after 0.2 s must not
    # wait for the last of them. Python's own SIGINT handler, set here: an interpreter started with
    # SIGINT ignored (a test run in the background of a non-interactive shell) has none, and
    # interrupt_main would then do nothing.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    timer = threading.Timer(0.2, _thread.interrupt_main)
    start = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        capcache.resolve(OPT, endpoint=slow_hub)
    elapsed = time.monotonic() - start
    timer.join()
    assert elapsed < 0.6, elapsed
