#!/usr/bin/env bash
# Packs gpuq for a GPU host without Node.js or nvcc: this machine's node binary, the built dist/,
# production node_modules (better-sqlite3 compiled here: same CPU architecture and a glibc at
# least as new are needed there), the CUDA risk engine compiled here (cache/, for sm_80, sm_90 and
# PTX), the examples and bench/gpu-check.   bench/gpu/make-bundle.sh OUT.tar.xz
# On the GPU host, in the unpacked folder:
#   PATH=$PWD:$PATH XDG_CACHE_HOME=$PWD/cache bench/gpu-check     # results in bench/results/gpu-check.json
set -euo pipefail
out=$(realpath -m "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
(cd "$root" && git archive HEAD) | tar -x -C "$work"
cd "$work"
npm ci --no-audit --no-fund >/dev/null
npm run build >/dev/null
# The CUDA engine, compiled once here (nvcc, no GPU needed) into the bundle's cache.
node --input-type=module -e "const m = await import('./dist/risk/cuda/cuda-build.js'); const b = await m.buildCudaEngine({ cacheDir: 'cache' }); console.error('CUDA engine built: ' + b.path);"
npm prune --omit=dev >/dev/null
rm -rf node_modules/better-sqlite3/{deps,src} node_modules/better-sqlite3/build/Release/{obj,obj.target,test_extension.node}
tar -cf - package.json dist node_modules cache examples bench/gpu-check bench/gpu bench/lib.mjs -C "$(dirname "$(readlink -f "$(command -v node)")")" node | xz -T2 -6 > "$out"
rm -rf "$work"
echo "$out: $(du -h "$out" | cut -f1)"
