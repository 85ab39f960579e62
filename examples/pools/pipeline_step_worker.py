#!/usr/bin/env python3
"""A gpuq pool worker that runs a pipeline step (ADR 0018), in plain Python 3 (standard library only).

A pipeline step with `pool: {name: ...}` sends each run (or each input, with fanOut) to the pool as a task whose
payload says where to read and write: {"inputDirs": [...], "outputDir": "...", "input": "...", "params": {...},
"pipeline", "run", "step", "lane", "runDir"}. This worker "loads a model" once, then for each task reads every
file of the input directories and writes `<name>` to the output directory: the text upper-cased, with the GPUs
it ran on and the step's `params.tag`. A file holding the word FAIL answers a non-retryable error (the run fails
naming the task; the task is in the pool's DLQ).

    gpuq pool create upper --gpus 1 --max-replicas 2 -- python3 examples/pools/pipeline_step_worker.py
    # in the pipeline:  - {name: infer, fanOut: true, pool: {name: upper, params: {tag: v1}}}
"""
import json
import os
import sys

_protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr


def send(message):
    _protocol.write(json.dumps(message, separators=(",", ":")) + "\n")
    _protocol.flush()


def run_step(payload):
    params = payload.get("params") or {}
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    written = []
    for directory in payload["inputDirs"]:
        for name in sorted(os.listdir(directory)):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                text = f.read()
            if "FAIL" in text:
                raise ValueError(f"{name}: the input asks to fail")
            # Written beside its final name, then renamed: a redelivered task never leaves half a file.
            target = os.path.join(payload["outputDir"], name)
            with open(target + ".tmp", "w", encoding="utf-8") as f:
                f.write(f"{text.upper()}gpu {gpus} tag {params.get('tag', '-')}\n")
            os.replace(target + ".tmp", target)
            written.append(name)
    return {"written": written}


def main():
    send({"type": "ready"})
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        if message["type"] == "shutdown":
            break
        if message["type"] != "task":
            continue
        try:
            send({"type": "result", "id": message["id"], "result": run_step(message["payload"])})
        except ValueError as e:
            send({"type": "error", "id": message["id"], "error": str(e), "retryable": False})
        except Exception as e:  # an I/O error may pass on another try
            send({"type": "error", "id": message["id"], "error": f"{type(e).__name__}: {e}", "retryable": True})
    return 0


if __name__ == "__main__":
    sys.exit(main())
