"""Metrics with several worker processes (prometheus_client's multiprocess files): a
worker that died leaves its totals in the scrape, not its open websockets."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def _python(code: str, directory: Path) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


def _sample(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_a_dead_workers_websockets_go_its_sales_stay(tmp_path: Path) -> None:
    worker = "from hub.adapters import metrics as m; m.WS_CONNECTIONS.inc(3); m.SALES.inc(2)"
    _python(worker, tmp_path)  # the worker exits: dead, as if killed and replaced
    alive = (
        "from hub.adapters import metrics as m; m.WS_CONNECTIONS.inc(1);"
        " print(m.exposition()[0].decode())"
    )
    scraped = _python(alive, tmp_path)
    assert _sample(scraped, "pos_ws_connections") == 1.0  # the scraping worker's own
    assert _sample(scraped, "pos_sales_committed_total") == 2.0
