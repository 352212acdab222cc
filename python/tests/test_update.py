"""capcache.update() against a dataset repository on the fixture hub, and get() reading the db it
installed."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

import capcache
from conftest import FIXTURES, ROOT, start_hub

REPO = "capcache/capcache-db"
ONLY_PUBLISHED = "published/only-here"


@pytest.fixture
def dataset(tmp_path: Path) -> Iterator[str]:
    """A fixture hub serving a publication: the shipped db.json plus a model only it has."""
    db = json.loads((ROOT / "db.json").read_text())
    record = dict(db["models"]["facebook/opt-125m"])
    db["models"][ONLY_PUBLISHED] = record
    folder = tmp_path / "dataset"
    folder.mkdir()
    text = json.dumps(db, indent=2, sort_keys=True) + "\n"
    (folder / "db.json").write_text(text)
    digest = hashlib.sha256(text.encode()).hexdigest()
    (folder / "db.json.sha256").write_text(f"{digest}  db.json\n")
    proc: subprocess.Popen = start_hub(
        ["--latency-ms", "0", "--repo", f"fixtures/llama-bf16={FIXTURES / 'pytorch' / 'llama-bf16'}",
         "--dataset", f"{REPO}={folder}"]
    )
    try:
        url = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        proc.kill()
        proc.wait()


def test_update_installs_and_get_reads_the_updated_db(dataset: str, tmp_path: Path) -> None:
    assert capcache.get(ONLY_PUBLISHED) is None
    done = capcache.update(endpoint=dataset)
    assert done["status"] == "installed"
    assert Path(done["path"]) == tmp_path / "data" / "capcache" / "db.json"
    assert done["installed"]["repo"] == REPO
    record = capcache.get(ONLY_PUBLISHED)
    assert record is not None and record["total"] == 125239296
    assert capcache.update(endpoint=dataset)["status"] == "unchanged"
    # The shipped facts still answer.
    assert capcache.get("facebook/opt-125m") is not None


def test_a_failed_update_raises_and_installs_nothing(dataset: str, tmp_path: Path) -> None:
    with pytest.raises(capcache.CapcacheError):
        capcache.update("nobody/none", endpoint=dataset)
    assert not (tmp_path / "data" / "capcache" / "db.json").exists()
