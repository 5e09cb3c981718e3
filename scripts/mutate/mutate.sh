#!/usr/bin/env bash
# Mutation check of the guarantee's key lines: each mutation below breaks one
# line the "every user once" guarantee rests on, in a scratch copy of the
# tree, and runs the tests that pin it. Every mutation must make a test
# fail ("killed"); one that survives means the line is unguarded, and the
# script exits 1. Needs only Go (the pinning tests run on kfake and
# miniredis).
#
#   scripts/mutate/mutate.sh          all mutations
#   scripts/mutate/mutate.sh NAME     one of them
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
GO="${GO:-go}"

# name | file | exact line (fixed string) | replacement | package | -run pattern
MUTATIONS=(
  "watermark-done|pkg/sender/tracker.go|	for p.head < len(p.pending) && p.pending[p.head].done {|	for p.head < len(p.pending) {|./pkg/sender/|TestCommitWatermarkNeverPassesUnfinished"
  "arm-ignored|pkg/sender/pipeline.go|		if errs[i] == nil {|		if errs[i] == errs[i] {|./pkg/sender/|TestLapsedClaimIsNeverSent"
  "same-token-claim|pkg/fence/scripts.go|    elseif att == token then|    elseif false then|./pkg/fence/|TestFence/miniredis/SameTokenClaim"
  "quota-gate-open|pkg/sender/gate.go|	for g.busy.Load() != 0 {|	for false {|./pkg/sender/|TestQuotaPauseSendsNothingAndUsesNoAttempt"
  "resend-unbounded|pkg/fence/scripts.go|      if tag == 'C' or tag == 'N' then return 3 end|      if false then return 3 end|./pkg/sender/|TestResendAtMostOncePerUser"
  "hold-ignored|pkg/fence/scripts.go|    elseif tag == 'n' and ARGV[3] == 'resend' then|    elseif tag == 'n' then|./pkg/sender/|TestAbandonedSendingKeyIsHeld"
  "limiter-abandons|pkg/sender/pipeline.go|	err := s.infra(p.ctx, \"rate_limit\", func(ctx context.Context) error {|	err := func(f func(context.Context) error) error { return f(p.ctx) }(func(ctx context.Context) error {|./pkg/sender/|TestLimiterRedisOutageNeverAbandonsAJob"
  "bulk-error-first-entry-only|pkg/sender/pipeline.go|		if errs[i] != nil {|		if errs[i] != nil && i == 0 {|./pkg/sender/|TestBulkCallAmbiguityCoversEveryEntry"
  "settle-any-attempt|pkg/fence/scripts.go|if att ~= ARGV[3] then|if false then|./pkg/fence/|TestSettle"
  "resolve-at-once|pkg/fence/scripts.go|      if now - t < resolveAfter then|      if false then|./pkg/fence/|TestResolveAfterUsesRedisTime"
)

only="${1:-}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# fresh copies the work tree as it is (tracked and new files, not ignored
# ones) into the scratch folder.
fresh() {
  rm -rf "$scratch/tree" && mkdir -p "$scratch/tree"
  (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh | xargs -0 cp --parents -t "$scratch/tree")
}

# runs runs the pinning test in the scratch tree; its output goes to
# $scratch/out.
runs() {
  local pkg="$1" run="$2"
  (cd "$scratch/tree" && "$GO" test -short -count=1 -run "^(${run%%/*})\$${run#"${run%%/*}"}" "$pkg" >"$scratch/out" 2>&1)
}
survived=0
ran=0
for m in "${MUTATIONS[@]}"; do
  IFS='|' read -r name file line repl pkg run <<<"$m"
  [[ -n "$only" && "$only" != "$name" ]] && continue
  ran=$((ran + 1))
  target="$scratch/tree/$file"
  fresh
  if ! runs "$pkg" "$run"; then
    echo "mutate: $name: $run fails before any mutation; fix that first:" >&2
    tail -20 "$scratch/out" >&2
    exit 2
  fi
  n="$(grep -cF -- "$line" "$target" || true)"
  if [[ "$n" != "1" ]]; then
    echo "mutate: $name: the line to break is found $n times in $file (expected once): update scripts/mutate/mutate.sh" >&2
    exit 2
  fi
  LINE="$line" REPL="$repl" perl -0pi -e 's/\Q$ENV{LINE}\E/$ENV{REPL}/' "$target"
  if runs "$pkg" "$run"; then
    echo "SURVIVED  $name: $file still passes $run"
    survived=$((survived + 1))
  elif grep -q '\[build failed\]\|\[setup failed\]' "$scratch/out"; then
    echo "mutate: $name: the mutated tree does not build: update scripts/mutate/mutate.sh" >&2
    tail -20 "$scratch/out" >&2
    exit 2
  else
    echo "killed    $name: $run fails ($(grep -m1 -E '^(--- FAIL|FAIL|.*timed out|.*Error:)' "$scratch/out" | sed 's/^[[:space:]]*//' || true))"
  fi
done
if [[ "$ran" == 0 ]]; then
  echo "mutate: no mutation named $only" >&2
  exit 2
fi
echo "$((ran - survived)) killed, $survived survived"
[[ "$survived" == 0 ]]
