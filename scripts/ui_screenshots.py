"""Headless-Chromium screenshots of the Dagster UI on a demo's run history.

    .venv/bin/python scripts/ui_screenshots.py            # runs a small demo first
    .venv/bin/python scripts/ui_screenshots.py --dir .mlc-demo

Needs Chromium (Debian: `apt-get install chromium`). Writes docs/screenshots/*.png: the asset graph,
the invoices asset with its partitions and metadata, an alert asset with its raised-alerts table, and
the automation (schedules and sensors) page.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PAGES = {
    "asset-graph": "/asset-groups",
    "supplier-invoices": "/assets/workday/supplier_invoices",
    "supplier-invoices-partitions": "/assets/workday/supplier_invoices?view=partitions",
    "high-value-alerts": "/assets/alerts/high_value_invoice",
    "automation": "/automation",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", help="an existing demo folder (default: run a small demo)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not chromium:
        print("ui_screenshots: Chromium is needed (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    folder = Path(args.dir).resolve() if args.dir else Path(tempfile.mkdtemp(prefix="mlc-ui-")) / "demo"
    if not args.dir:
        subprocess.run([str(BIN / "mlc-dagster"), "demo", "--dir", str(folder), "--scale", "0.05"], check=True,
                       cwd=ROOT)
    env = {**os.environ, "DAGSTER_HOME": str(folder / "dagster_home"), "MLC_DUCKDB_PATH": str(folder / "mlc.duckdb"),
           "MLC_SUBSCRIPTIONS": str(folder / "subscriptions.yaml")}
    port = free_port()
    server = subprocess.Popen([str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1",
                               "-p", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2).read()  # noqa: S310
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        profile = tempfile.mkdtemp(prefix="mlc-chromium-")
        for name, path in PAGES.items():
            target = out / f"{name}.png"
            subprocess.run([
                chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--hide-scrollbars", "--window-size=1600,1000",
                "--virtual-time-budget=20000", f"--screenshot={target}", f"http://127.0.0.1:{port}{path}",
            ], check=True, capture_output=True, timeout=180)
            print(f"{target} ({target.stat().st_size:,} bytes)")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
