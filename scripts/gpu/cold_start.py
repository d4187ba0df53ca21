#!/usr/bin/env python3
"""Cold start of `vllm serve`: seconds from launch to the first healthy /health, split by the startup
log lines (backend up, weights loaded, memory profiling / warm-up, KV cache allocated, listening).

Usage: python3 scripts/gpu/cold_start.py --out cold_start.json -- dist/vllm serve MODEL --port 8123 ...
"""

import argparse
import json
import subprocess
import sys
import threading
import time
import urllib.request

PHASES = [("backend", "backend:"), ("weights_loaded", "loaded "), ("memory_profiled", "memory profiling:"),
          ("kv_cache_allocated", "KV cache:"), ("listening", "(API docs at")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd and args.cmd[0] == "--" else args.cmd
    port = int(cmd[cmd.index("--port") + 1])

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    seen, lines = {}, []

    def read():
        for line in proc.stdout:
            now = time.perf_counter() - t0
            lines.append(f"[{now:7.2f}] {line.rstrip()}")
            for name, marker in PHASES:
                if name not in seen and marker in line:
                    seen[name] = now

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    healthy = None
    while time.perf_counter() - t0 < args.timeout and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    healthy = time.perf_counter() - t0
                    break
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    reader.join(timeout=5)
    print("\n".join(lines))
    result = {"command": " ".join(cmd), "healthy_s": healthy, "phase_end_s": seen}
    order = ["backend", "weights_loaded", "memory_profiled", "kv_cache_allocated", "listening"]
    prev, split = 0.0, {}
    for name in order:
        if name in seen:
            split[name] = seen[name] - prev
            prev = seen[name]
    if healthy is not None:
        split["to_first_health"] = healthy - prev
    result["phase_seconds"] = split
    print(f"cold_start: healthy after {healthy} s; phases {json.dumps(split)}", flush=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    sys.exit(0 if healthy is not None else 1)


if __name__ == "__main__":
    main()
