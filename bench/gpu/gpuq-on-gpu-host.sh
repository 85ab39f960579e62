#!/usr/bin/env bash
# Runs gpuq on a real NVIDIA host and shows what it does there: discovery, pinning as CUDA
# sees it, telemetry under load, unschedulable requests, queueing on a held GPU, cancel
# freeing GPU memory, the probe. Needs nvidia-smi and python3 with PyTorch on the host.
#
#   bench/gpu/gpuq-on-gpu-host.sh BUNDLE OUTDIR
#
# BUNDLE is a tarball made by bench/gpu/make-bundle.sh (node, dist/, production
# node_modules), for hosts without Node.js; OUTDIR receives the JSON and logs.
set -u
BUNDLE=$(realpath "$1"); OUT=$(realpath "${2:-.}")
mkdir -p /tmp/g && cd /tmp/g && tar -xJf "$BUNDLE"
export PATH=/tmp/g:$PATH
G="node /tmp/g/dist/cli/main.js"
echo "== node $(node --version); $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
$G up --port 7420 --data-dir /tmp/g/data --log-level info > up.out 2> up.err &
for i in $(seq 1 100); do grep -q "gpuq is up" up.out && break; sleep 0.1; done
cat up.out; grep -v '"level":30' up.err | head -5
echo "== gpuq nodes"; $G nodes
id1=$($G submit --gpus 1 --name torch-gpu -- python3 -c "import os,torch; print('CUDA_VISIBLE_DEVICES=%s NVIDIA_VISIBLE_DEVICES=%s devices=%d %s' % (os.environ['CUDA_VISIBLE_DEVICES'], os.environ['NVIDIA_VISIBLE_DEVICES'], torch.cuda.device_count(), torch.cuda.get_device_name(0)))")
id2=$($G submit --name torch-cpu -- python3 -c "import os,torch; print('CUDA_VISIBLE_DEVICES=[%s] devices=%d' % (os.environ['CUDA_VISIBLE_DEVICES'], torch.cuda.device_count()))")
$G wait $id1 $id2
echo "== logs $id1"; $G logs $id1
echo "== logs $id2"; $G logs $id2
echo "== 2 GPUs on a 1-GPU node"; $G submit --gpus 2 -- true; echo "exit code $?"
echo "== a GPU burn of 20 s, telemetry while it runs"
id3=$($G submit --gpus 1 --name burn -- python3 -c "
import time,torch
a=torch.randn(8192,8192,device='cuda',dtype=torch.bfloat16); b=torch.randn(8192,8192,device='cuda',dtype=torch.bfloat16)
t=time.time(); n=0
while time.time()-t<20:
    for _ in range(50): c=a@b
    torch.cuda.synchronize(); n+=50
print('matmuls', n, 'TFLOP/s %.0f' % (n*2*8192**3/(time.time()-t)/1e12))")
sleep 12
$G nodes
curl -s localhost:7420/metrics | grep -E '^gpuq_device_(utilization|memory_used|temperature|power|ecc)'
$G nodes --json > "$OUT/nodes-under-load.json"
echo "== a second GPU job waits while the GPU is held"
id4=$($G submit --gpus 1 --name waits -- nvidia-smi -L)
sleep 1; $G show $id4 | head -8
$G wait $id3 $id4
echo "== logs $id3"; $G logs $id3
echo "== logs $id4"; $G logs $id4
echo "== cancel a GPU job mid-run: memory freed?"
id5=$($G submit --gpus 1 --name hog -- python3 -c "import torch,time; x=torch.empty(20*2**30,dtype=torch.uint8,device='cuda'); print('holding 20 GiB', flush=True); time.sleep(600)")
for i in $(seq 1 100); do $G logs $id5 2>/dev/null | grep -q holding && break; sleep 0.2; done
nvidia-smi --query-gpu=memory.used --format=csv,noheader
$G cancel $id5; $G wait $id5; sleep 1
nvidia-smi --query-gpu=memory.used --format=csv,noheader
$G show $id5 | sed -n 1,12p
echo "== probe"; $G probe
curl -s localhost:7420/health/detailed
kill %1; wait
cp up.err "$OUT/up.err"
