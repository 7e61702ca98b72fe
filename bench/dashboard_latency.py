"""The dashboard's latency (JSON on stdout): from a Codex delta appended to an agent's outbox to
its text on screen in a real browser (Playwright driving Debian's Chromium), through a real
``codeswarm serve`` (its event hub following the outbox with inotify, SSE, the page's parser and
DOM update). Target p50 <= 100 ms.

- browser: the page records, in a MutationObserver on the agent's text, the wall-clock time
  (``performance.timeOrigin + performance.now()``) at which each marker appears in the DOM;
  compared with the wall-clock time just before the append. browser_frame: to the start of the
  animation frame that paints it (a ``requestAnimationFrame`` callback after the change).
- sse_client: side by side in the same run, a plain Python client of the same event stream (the
  time the event reaches a client, without the browser).

The swarm is synthetic (a run directory with its spec, no workers): a writer appends Codex
``item/agentMessage/delta`` records the way a worker relays them.

    .venv/bin/python bench/dashboard_latency.py [--rounds 200] [--gap 0.05]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(Path(__file__).resolve().parent), str(ROOT / "tests")]
import chromium_local  # noqa: E402
from _common import emit, summary  # noqa: E402
from codeswarm.core.swarm import RunDir, SwarmSpec  # noqa: E402
from codeswarm.mailbox import Layout, Writer  # noqa: E402

SWARM = "bench"
AGENTS = 3
OBSERVE = """sel => {
  const el = document.querySelector(sel);
  window.hits = {};
  window.dateHits = {};
  window.frames = {};
  let done = 0;  // the text before this was looked at already
  new MutationObserver(() => {
    const now = performance.timeOrigin + performance.now();
    const date = Date.now();
    const text = el.textContent;
    // several deltas may land in one task: every marker that appeared since the last call
    const fresh = [];
    for (const m of text.slice(done).matchAll(/M(\\d+) /g)) {
      if (!(m[1] in window.hits)) {
        window.hits[m[1]] = now;
        window.dateHits[m[1]] = date;
        fresh.push(m[1]);
      }
    }
    done = text.length;
    // the frame that paints it: requestAnimationFrame runs just before the paint
    if (fresh.length) requestAnimationFrame(() => {
      const frame = performance.timeOrigin + performance.now();
      for (const k of fresh) window.frames[k] = frame;
    });
  }).observe(el, {childList: true, characterData: true, subtree: true});
}"""


def make_run(state: Path) -> RunDir:
    import msgspec

    run = RunDir(state / "runs" / SWARM)
    run.root.mkdir(parents=True, mode=0o700)
    Layout(run.root).create()
    spec = SwarmSpec(name=SWARM, size=AGENTS, cwd=str(state), codex_bin="/bin/true")
    run.spec_path.write_bytes(msgspec.json.encode(spec))
    return run


def codex(method: str, **params: Any) -> dict[str, Any]:
    return {"method": method, "params": {"threadId": "th", "turnId": "tu", **params}}


def start_serve(env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "codeswarm", "serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=cwd,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    match = re.search(r"at (http://127\.0\.0\.1:\d+)/#token=(\S+)$", line)
    if not match:
        proc.kill()
        raise SystemExit(f"serve printed {line!r}")
    return proc, match[1], match[2]


def sse_client(url: str, token: str, hits: dict[int, float], stop: threading.Event) -> None:
    """Follow the swarm's events; the wall-clock time each marker's delta arrives."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request("GET", f"/api/swarms/{SWARM}/events", headers={"Authorization": f"Bearer {token}"})
    res = conn.getresponse()
    assert res.status == 200, res.status
    while not stop.is_set():
        line = res.fp.readline()
        if not line:
            return
        if line.startswith(b"data:"):
            now = time.time() * 1000
            event = json.loads(line[5:])
            m = re.search(r"M(\d+) $", str(event.get("delta") or ""))
            if m:
                hits.setdefault(int(m[1]), now)
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--gap", type=float, default=0.05, help="mean seconds between deltas")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = chromium_local.ensure_chromium()
    tmp = Path(tempfile.mkdtemp(prefix="cs-dash-bench-"))
    state = tmp / "state"
    run = make_run(state)
    env = {**os.environ, "CODESWARM_STATE_DIR": str(state), "XDG_STATE_HOME": str(tmp / "xdg")}
    proc, url, token = start_serve(env, tmp)
    agent = f"{SWARM}_0"
    writer = Writer.open(Layout(run.root).outbox(agent))
    sent: dict[int, float] = {}
    sse_hits: dict[int, float] = {}
    stop = threading.Event()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(chromium))
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(f"{url}/?swarm={SWARM}#token={token}")
            page.wait_for_selector(f'.agent[data-agent="{agent}"]', timeout=60_000)
            page.wait_for_function("document.querySelector('#conn').textContent === 'live'")
            page.evaluate(OBSERVE, f'.agent[data-agent="{agent}"] .agent-text')
            reader = threading.Thread(
                target=sse_client, args=(url, token, sse_hits, stop), daemon=True
            )
            reader.start()
            time.sleep(0.5)  # the client's stream is open (it follows from now)
            for i in range(args.rounds):
                time.sleep(random.uniform(0.5, 1.5) * args.gap)
                msg = codex("item/agentMessage/delta", itemId="m", delta=f"M{i} ")
                sent[i] = time.time() * 1000
                writer.append("codex", msg=msg)
            deadline = time.monotonic() + 30
            hits: dict[str, float] = {}
            while time.monotonic() < deadline:
                hits = page.evaluate("window.hits")
                if len(hits) >= args.rounds and len(sse_hits) >= args.rounds:
                    break
                time.sleep(0.2)
            date_hits: dict[str, float] = page.evaluate("window.dateHits")
            frames: dict[str, float] = page.evaluate("window.frames")
            version = browser.version
            browser.close()
    finally:
        stop.set()
        writer.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    shown = [(hits[str(i)] - sent[i]) / 1000 for i in sent if str(i) in hits]
    painted = [(frames[str(i)] - sent[i]) / 1000 for i in sent if str(i) in frames]
    by_date = [(date_hits[str(i)] - sent[i]) / 1000 for i in sent if str(i) in date_hits]
    received = [(sse_hits[i] - sent[i]) / 1000 for i in sent if i in sse_hits]
    emit(
        {
            "bench": "dashboard_latency",
            "rounds": args.rounds,
            "gap_s": args.gap,
            "chromium": version,
            "browser": {**summary(shown), "lost": args.rounds - len(shown)},
            # to the animation frame that paints it (requestAnimationFrame after the change)
            "browser_frame": {**summary(painted), "lost": args.rounds - len(painted)},
            # the DOM figure with the page's Date.now() (1 ms steps): a check on the clocks
            "browser_date_now_p50_ms": summary(by_date)["p50_ms"],
            "sse_client": {**summary(received), "lost": args.rounds - len(received)},
            "target": {"browser_p50_ms": 100},
        }
    )


if __name__ == "__main__":
    main()
