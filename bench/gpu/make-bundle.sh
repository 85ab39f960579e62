#!/usr/bin/env bash
# Packs gpuq for a GPU host without Node.js: this machine's node binary, the built dist/
# and production node_modules (better-sqlite3 compiled here: same CPU architecture and a
# glibc at least as new are needed there).   bench/gpu/make-bundle.sh OUT.tar.xz
set -euo pipefail
out=$(realpath -m "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
(cd "$root" && git archive HEAD) | tar -x -C "$work"
cd "$work"
npm ci --no-audit --no-fund >/dev/null
npm run build >/dev/null
npm prune --omit=dev >/dev/null
rm -rf node_modules/better-sqlite3/{deps,src} node_modules/better-sqlite3/build/Release/{obj,obj.target,test_extension.node}
tar -cf - package.json dist node_modules -C "$(dirname "$(readlink -f "$(command -v node)")")" node | xz -T2 -6 > "$out"
rm -rf "$work"
echo "$out: $(du -h "$out" | cut -f1)"
