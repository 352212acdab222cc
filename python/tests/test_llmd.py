"""llm-d-planner (PyPI `llm-d-planner[estimation]`) on capcache, for facebook/opt-125m: a model
whose repository has only pytorch_model.bin (no safetensors metadata) and whose config has no
`num_key_value_heads` nor `intermediate_size`. The fixture hub serves the real checkpoint's
skeleton; no Hub is reached: an audit hook fails the test on any connection Python itself opens
(capcache's own requests go from Rust to the fixture hub)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import planner.capacity_planner as cp
import planner.cli.planner_cli as planner_cli
import planner.recommendation.estimator as estimator
import pytest
from conftest import ROOT, Hub, expected_opt_parameters

import capcache
import capcache.llmd

OPT = "facebook/opt-125m"
GIB = 1024**3

@pytest.fixture
def on_capcache(hub: Hub, empty_db: Path, monkeypatch: pytest.MonkeyPatch, no_python_network: None) -> Iterator[None]:
    """llm-d with capcache.llmd installed; capcache's cache is empty, so records come live from
    the fixture hub."""
    monkeypatch.setenv("CAPCACHE_DB", str(empty_db))
    capcache.llmd.install(endpoint=hub.url)
    try:
        yield
    finally:
        capcache.llmd.uninstall()


def opt_record(hub: Hub) -> dict:
    return capcache.resolve(OPT, endpoint=hub.url)


def test_a_local_record_gives_no_hub_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_python_network: None) -> None:
    """The shipped db's records were read from a local folder: their revision is the snapshot's
    name, so llm-d's ModelInfo gets no ``sha`` (a Hub commit) from them."""
    db = json.loads((ROOT / "db.json").read_text())
    assert db["models"][OPT]["source"] == "local"
    path = tmp_path / "db.json"
    path.write_text(json.dumps(db))
    monkeypatch.setenv("CAPCACHE_DB", str(path))
    capcache.llmd.install(prefer_exact=False)
    try:
        info = cp.get_model_info_from_hf(OPT)
    finally:
        capcache.llmd.uninstall()
    assert info.sha is None
    assert info.safetensors.total == db["models"][OPT]["total"]


def test_llmd_alone_fails_for_opt(hub: Hub, tmp_path: Path) -> None:
    """The failures capcache exists for, with llm-d asking the fixture hub as it asks the Hub."""
    script = textwrap.dedent(
        """
        import planner.capacity_planner as cp
        for name, call in [
            ("params", lambda: cp.model_params_by_dtype("facebook/opt-125m")),
            ("kv", lambda: cp.KVCacheDetail("facebook/opt-125m", cp.get_model_config_from_hf("facebook/opt-125m"), 2048)),
            ("tp", lambda: cp.find_possible_tp(cp.get_model_config_from_hf("facebook/opt-125m"))),
        ]:
            try:
                call()
                print(name, "ok")
            except Exception as e:
                print(name, type(e).__name__)
        """
    )
    env = dict(os.environ, HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf"))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["params NotASafetensorsRepoError", "kv AttributeError", "tp AttributeError"]


def test_planner_functions_on_capcache(hub: Hub, on_capcache: None) -> None:
    hub.reset()
    record = opt_record(hub)
    assert hub.stats()["requests"] > 0
    config = cp.get_model_config_from_hf(OPT)
    assert cp.model_params_by_dtype(OPT) == expected_opt_parameters()
    assert cp.model_total_params(OPT) == sum(expected_opt_parameters().values())
    assert cp.get_safetensors_metadata_from_hf(OPT).parameter_count == expected_opt_parameters()
    assert cp.get_model_info_from_hf(OPT).safetensors.total == record["total"]
    assert cp.get_model_info_from_hf(OPT).sha == record["revision"]  # a Hub record's commit
    assert cp.model_memory_req(OPT, config) == record["weight_bytes"] / GIB
    assert cp.per_gpu_model_memory_required(OPT, config, tp=2) == record["weight_bytes"] / GIB / 2
    kv = cp.KVCacheDetail(OPT, config, context_len=2048, batch_size=4)
    assert kv.attention_type == cp.AttentionType.MHA
    assert kv.per_token_memory_bytes == record["kv_cache_bytes_per_token"]
    assert cp.kv_cache_req(OPT, config, 2048, batch_size=4) == record["kv_cache_bytes_per_token"] * 2048 * 4 / GIB
    assert cp.max_context_len(config) == record["architecture"]["max_position_embeddings"]
    # OPT: 12 heads and KV heads, MLP width 3072, vocabulary 50272 padded to 50304 by vLLM.
    assert cp.find_possible_tp(config) == [1, 2, 3, 4, 6, 12]
    assert cp.check_model_fits_gpu(OPT, config, 80) == [1, 2, 3, 4, 6, 12]
    assert cp.auto_max_model_len(OPT, config, gpu_memory=80) == record["architecture"]["max_position_embeddings"]
    summary = cp.get_model_info_summary(OPT)
    assert summary["model_info"]["parameters_by_dtype"] == expected_opt_parameters()
    assert summary["architecture"]["is_moe"] is False


def test_modules_that_imported_by_name_are_patched_and_restored(hub: Hub, on_capcache: None) -> None:
    assert planner_cli.get_model_config_from_hf is capcache.llmd.get_model_config_from_hf
    assert planner_cli.model_total_params is capcache.llmd.model_total_params
    assert estimator.get_model_config_from_hf is capcache.llmd.get_model_config_from_hf
    capcache.llmd.uninstall()
    assert not capcache.llmd.installed()
    assert planner_cli.get_model_config_from_hf is cp.get_model_config_from_hf
    assert cp.get_model_config_from_hf is not capcache.llmd.get_model_config_from_hf
    assert cp.model_params_by_dtype is not capcache.llmd.model_params_by_dtype
    capcache.llmd.install(endpoint=hub.url)
    assert planner_cli.get_model_config_from_hf is capcache.llmd.get_model_config_from_hf


def test_cached_models_cost_no_request(hub: Hub, no_python_network: None) -> None:
    """With capcache's own cache (the db.json inside the package) and prefer_exact=False, llm-d
    asks no one; by default, a cached estimate is replaced by an exact count read now."""
    shipped = capcache.get(OPT)
    assert shipped is not None and not shipped["exact"]
    capcache.llmd.install(endpoint=hub.url, prefer_exact=False)
    try:
        hub.reset()
        assert cp.model_params_by_dtype(OPT) == shipped["parameters"]
        assert cp.model_memory_req(OPT, cp.get_model_config_from_hf(OPT)) == shipped["weight_bytes"] / GIB
        assert hub.stats()["requests"] == 0
    finally:
        capcache.llmd.uninstall()
    capcache.llmd.install(endpoint=hub.url)
    try:
        hub.reset()
        assert cp.model_params_by_dtype(OPT) == expected_opt_parameters()
        assert hub.stats()["requests"] > 0
    finally:
        capcache.llmd.uninstall()


def test_unknown_model_raises_capcache_error(hub: Hub, on_capcache: None) -> None:
    with pytest.raises(capcache.RepositoryNotFoundError):
        cp.model_params_by_dtype("nobody/nothing")


def test_planner_plan_command(hub: Hub, empty_db: Path, tmp_path: Path) -> None:
    """`planner plan` (llm-d's command) through `python -m capcache.llmd`, in a process whose
    Python opens no connection at all."""
    guard = textwrap.dedent(
        """
        import runpy, sys
        def audit(event, args):
            if event in ("socket.connect", "socket.getaddrinfo"):
                raise RuntimeError(f"connection attempted: {event} {args[1:]}")
        sys.addaudithook(audit)
        sys.argv = ["capcache.llmd", *sys.argv[1:]]
        runpy.run_module("capcache.llmd", run_name="__main__", alter_sys=True)
        """
    )
    env = dict(os.environ, CAPCACHE_DB=str(empty_db), HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path))
    args = ["plan", "--model", OPT, "--gpu-memory", "80", "--show-possible-tp"]
    out = subprocess.run([sys.executable, "-c", guard, *args], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    plan = json.loads(out.stdout[out.stdout.index("{") :])
    record = opt_record(hub)
    assert plan["model_info"]["total_parameters"] == record["total"]
    assert plan["model_memory_gb"] == round(record["weight_bytes"] / GIB, 2)
    assert plan["kv_cache_detail"]["per_token_memory_bytes"] == record["kv_cache_bytes_per_token"]
    assert plan["kv_cache_detail"]["num_key_value_heads"] == record["architecture"]["num_key_value_heads"]
    assert plan["possible_tp_values"] == [1, 2, 3, 4, 6, 12]
    assert plan["max_concurrent_requests"] > 0


# --- the two functions llm-d's plan names (issue 382), against llm-d's own functions ----------

CONFIGS = sorted((ROOT / "tests" / "fixtures" / "configs").glob("*.json"))


def opt_config() -> dict:
    return json.loads((ROOT / "tests" / "fixtures" / "configs" / "facebook__opt-125m.json").read_text())


def test_get_model_params_fallback_has_the_plans_signature() -> None:
    import inspect

    sig = inspect.signature(capcache.llmd.get_model_params_fallback)
    assert list(sig.parameters) == ["model_name", "model_config", "hf_token", "allow_download"]
    assert sig.parameters["hf_token"].default is None and sig.parameters["allow_download"].default is False
    assert list(inspect.signature(capcache.llmd.infer_dtype_from_config).parameters) == ["model_config"]


def test_get_model_params_fallback_feeds_llmds_memory_functions(
    hub: Hub, empty_db: Path, monkeypatch: pytest.MonkeyPatch, no_python_network: None
) -> None:
    monkeypatch.setenv("CAPCACHE_DB", str(empty_db))
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    params = capcache.llmd.get_model_params_fallback(OPT, opt_config())
    assert params == expected_opt_parameters()
    record = opt_record(hub)
    # llm-d prices the answer with its own functions, to the checkpoint's bytes.
    memory = sum(cp.parameter_memory_req(n, dtype) for dtype, n in params.items())
    assert memory == pytest.approx(record["weight_bytes"] / GIB)
    # Nothing to read: the count from the config llm-d already holds, as transformers counts it.
    from_config = capcache.llmd.get_model_params_fallback("nobody/nothing", opt_config())
    assert from_config == capcache.estimate(opt_config())["parameters"]
    assert sum(from_config.values()) == 125_239_296
    # Nothing at all: None, as the plan's contract says.
    assert capcache.llmd.get_model_params_fallback("nobody/nothing", None) is None


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_infer_dtype_from_config_is_a_name_llmd_prices(path: Path) -> None:
    import types as pytypes

    config = json.loads(path.read_text())
    dtype = capcache.llmd.infer_dtype_from_config(config)
    width = cp.precision_to_byte(dtype)  # raises for a name llm-d does not know
    assert width > 0
    if "quantization_config" not in config:
        # Where llm-d reads a dtype itself, it gets the same width.
        llmd_dtype = cp._extract_dtype_from_config(pytypes.SimpleNamespace(**config))
        if llmd_dtype is not None:
            assert width == cp.precision_to_byte(llmd_dtype), (dtype, llmd_dtype)
    # A transformers-like object answers as its dict does.
    assert capcache.llmd.infer_dtype_from_config(pytypes.SimpleNamespace(**config)) == dtype


def test_infer_dtype_from_quantization_configs() -> None:
    cases = [
        ({"quant_method": "fp8", "fmt": "e4m3"}, 1.0),
        ({"quant_method": "gptq", "bits": 4}, 0.5),
        ({"quant_method": "awq", "bits": 8}, 1.0),
        ({"quant_method": "mxfp4"}, 4.25 / 8),
        ({"quant_method": "compressed-tensors", "config_groups": {"group_0": {"weights": {"num_bits": 8, "type": "float"}}}}, 1.0),
        ({"quant_method": "compressed-tensors", "config_groups": {"group_0": {"weights": {"num_bits": 4, "type": "int"}}}}, 0.5),
        ({"quant_method": "bitsandbytes", "load_in_4bit": True}, 0.5),
    ]
    for quant, width in cases:
        dtype = capcache.llmd.infer_dtype_from_config({"torch_dtype": "bfloat16", "quantization_config": quant})
        assert cp.precision_to_byte(dtype) == pytest.approx(width), (quant, dtype)
    assert capcache.llmd.infer_dtype_from_config({}) == "F32"
    assert capcache.llmd.infer_dtype_from_config({"text_config": {"torch_dtype": "float16"}}) == "F16"


def test_gguf_block_types_reach_llmd_as_bytes() -> None:
    # 10 Q4_K blocks (256 elements in 144 bytes each) and 100 F32 elements.
    record = {"parameters": {"Q4_K": 2560, "F32": 100}, "total": 2660, "weight_bytes": 1440 + 400}
    with pytest.raises(ValueError):
        cp.precision_to_byte("Q4_K")
    params = capcache.llmd.planner_parameters(record)
    assert params == {"F32": 100, "U8": 1440}
    assert sum(cp.parameter_memory_req(n, d) for d, n in params.items()) == pytest.approx(1840 / GIB)
    config = capcache.llmd.Config.from_record({**record, "dtype": "Q4_K", "architecture": {"num_hidden_layers": 2}})
    assert cp.precision_to_byte(config.torch_dtype) == 2, "the KV cache dtype llama.cpp uses"


def test_install_checks_the_planner_version(monkeypatch: pytest.MonkeyPatch, hub: Hub) -> None:
    from importlib import metadata

    version = metadata.version("llm-d-planner")
    low, high = capcache.llmd.SUPPORTED_PLANNER
    assert low <= capcache.llmd._version_tuple(version) < high, version
    monkeypatch.setattr(capcache.llmd, "SUPPORTED_PLANNER", ((9, 0), (10, 0)))
    with pytest.raises(capcache.llmd.UnsupportedPlannerError, match=version):
        capcache.llmd.install(endpoint=hub.url)
    assert not capcache.llmd.installed()
    capcache.llmd.install(endpoint=hub.url, force=True)
    try:
        assert capcache.llmd.installed()
    finally:
        capcache.llmd.uninstall()
    assert capcache.llmd._version_tuple("0.4.0rc1") == (0, 4, 0)
