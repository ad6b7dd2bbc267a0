#!/usr/bin/env python3
"""Cold start of the vpc-proxy binary under the real runtime emulator the tests use
(`cargo lambda watch --only-lambda-apis`, from .venv or $CARGO_LAMBDA).

For each run: start a fresh emulator, queue one invocation (a REST API event from a source not
on the list: a 403, no backend traffic), spawn the binary with a 10,000-entry allow-list file,
and time from just before the spawn to the invocation's answer arriving back through the
emulator. That is exec -> first /next -> handler -> answer -> emulator -> client: the cold
start a caller sees, with the emulator's own hops in it. Peak RSS (VmHWM) is read once the
answer is in.

    python3 scripts/coldstart_emulator.py BINARY [--runs N] [--entries N] [--target URL]
"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from coldstart import EVENT, allow_list, arguments, vm_hwm_kb  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def cargo_lambda():
    found = os.environ.get("CARGO_LAMBDA") or str(ROOT / ".venv/bin/cargo-lambda")
    if not os.path.exists(found):
        found = shutil.which("cargo-lambda")
    if not found:
        sys.exit("cargo-lambda not found: run scripts/test.sh once (it installs it into .venv)")
    return found


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_emulator(port):
    proc = subprocess.Popen(
        [cargo_lambda(), "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if "starting Runtime server" in line:
            break
    else:
        sys.exit("the emulator did not start")
    # Keep draining its output so it never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    # It logs that line before it binds, and nothing after: wait for the port to accept.
    give_up = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > give_up:
                sys.exit("the emulator never listened")
            time.sleep(0.002)


def one_run(binary, env, list_path):
    port = free_port()
    emulator = start_emulator(port)
    answer = {}

    def invoke():
        url = f"http://127.0.0.1:{port}/2015-03-31/functions/_/invocations"
        with urllib.request.urlopen(urllib.request.Request(url, data=EVENT), timeout=60) as r:
            answer["body"] = r.read()
        answer["at"] = time.perf_counter()

    caller = threading.Thread(target=invoke)
    caller.start()
    time.sleep(0.2)  # the invoke must be queued before the function exists, or it is not cold
    run_env = dict(env, AWS_LAMBDA_RUNTIME_API=f"http://127.0.0.1:{port}/.rt",
                   PROXY_ALLOWED_IPS_FILE=list_path)
    t0 = time.perf_counter()
    proc = subprocess.Popen([binary], env=run_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    caller.join(60)
    rss = vm_hwm_kb(proc.pid)
    proc.kill()
    proc.wait()
    emulator.kill()
    emulator.wait()
    if b'"statusCode":403' not in answer.get("body", b""):
        sys.exit(f"unexpected answer: {answer!r}")
    return (answer["at"] - t0) * 1000, rss


def main():
    args = arguments(runs=10)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "SSL_CERT_FILE", "SSL_CERT_DIR")}
    env.update(AWS_LAMBDA_FUNCTION_NAME="_", PROXY_TARGET_URL=args.target)
    with tempfile.TemporaryDirectory() as tmp:
        list_path = os.path.join(tmp, "allowed-ips.txt")
        allow_list(args.entries, list_path)
        one_run(args.binary, env, list_path)  # warm the page cache, unmeasured
        times, rss = [], []
        for i in range(args.runs):
            ms, kb = one_run(args.binary, env, list_path)
            times.append(ms)
            rss.append(kb / 1024)
            print(f"run {i + 1:2}: first answer after {ms:7.2f} ms, peak RSS {kb / 1024:5.2f} MiB")
    print(f"\nbinary: {args.binary} ({os.path.getsize(args.binary)} bytes)")
    print(f"allow-list: {args.entries} entries; target {args.target}; runs: {args.runs}; "
          f"SSL_CERT_FILE={env.get('SSL_CERT_FILE', '-')} SSL_CERT_DIR={env.get('SSL_CERT_DIR', '-')}")
    print(f"exec -> first answer through the emulator: min {min(times):.2f} ms, "
          f"p50 {statistics.median(times):.2f} ms, max {max(times):.2f} ms")
    print(f"peak RSS after it: p50 {statistics.median(rss):.2f} MiB, max {max(rss):.2f} MiB")


if __name__ == "__main__":
    main()
