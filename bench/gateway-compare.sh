#!/usr/bin/env bash
# Compare the no-middleware gateway against the bare proxy at an older commit and at this
# checkout, alternating runs (old, new, old, new...) so both see the same machine:
#   bench/gateway-compare.sh [REV=501abeb] [PAIRS=2]
# Each run is bench/gateway.ts with GW_BENCH_ONLY=bare,gw0 (its ratios are taken within the run).
# The old commit is checked out in a temporary git worktree and installed with npm ci.
set -euo pipefail
cd "$(dirname "$0")/.."
rev="${1:-501abeb}"; pairs="${2:-2}"
old="$(mktemp -d)/old"
git worktree add --detach "$old" "$rev" >/dev/null
trap 'git worktree remove --force "$old"' EXIT
(cd "$old" && npm ci --silent >/dev/null 2>&1)
npm run build --silent >/dev/null
for i in $(seq "$pairs"); do
  for side in old new; do
    dir=$([ "$side" = old ] && echo "$old" || pwd)
    (cd "$dir" && GW_BENCH_ONLY=bare,gw0 node --import tsx bench/gateway.ts 2>/dev/null) |
      grep -E '^\| (bare node|gateway, no middleware)' | cut -d'|' -f2,3,6,8 | sed "s/^/$side ($([ "$side" = old ] && echo "$rev" || git rev-parse --short HEAD)) run $i:/"
  done
done
