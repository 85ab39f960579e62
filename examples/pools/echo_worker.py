#!/usr/bin/env python3
"""A gpuq pool worker in plain Python 3 (standard library only); the protocol is in docs/pool-protocol.md.

It "loads a model" once (ECHO_LOAD_SECONDS, default 0: a sleep with heartbeats, standing in for the
minutes a real model takes), says ready, then answers each task with its payload echoed back.
A payload {"fail": "why"} answers an error that is not retryable; {"sleep": seconds} takes that long.

    gpuq pool create echo --gpus 1 --max-replicas 2 -- python3 examples/pools/echo_worker.py
"""
import json
import os
import sys
import time

# The protocol owns stdout. Keep a private handle on it and point fd 1 (and sys.stdout) at stderr, so a stray
# print() or a library writing to stdout lands in the log instead of breaking the protocol.
_protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr


def send(message):
    _protocol.write(json.dumps(message, separators=(",", ":")) + "\n")
    _protocol.flush()


def load_model():
    seconds = float(os.environ.get("ECHO_LOAD_SECONDS", "0"))
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        send({"type": "heartbeat"})  # optional: shows the load is alive
        time.sleep(min(1.0, left))
    return {"pid": os.getpid()}


def handle(model, payload):
    if isinstance(payload, dict):
        if "fail" in payload:
            raise ValueError(str(payload["fail"]))
        if "sleep" in payload:
            time.sleep(float(payload["sleep"]))
    return {"echo": payload, "pid": model["pid"]}


def main():
    model = load_model()
    print(f"echo worker: model loaded, GPUs {os.environ.get('CUDA_VISIBLE_DEVICES', '')!r}", flush=True)
    send({"type": "ready"})
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        if message["type"] == "shutdown":
            break  # one task at a time: nothing is in flight here
        if message["type"] != "task":
            continue
        try:
            send({"type": "result", "id": message["id"], "result": handle(model, message["payload"])})
        except ValueError as e:
            # A bad payload fails the same way every time: not worth a retry.
            send({"type": "error", "id": message["id"], "error": str(e), "retryable": False})
        except Exception as e:  # anything else may pass on another try (another replica, later)
            send({"type": "error", "id": message["id"], "error": f"{type(e).__name__}: {e}", "retryable": True})
    return 0


if __name__ == "__main__":
    sys.exit(main())
