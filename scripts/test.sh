#!/usr/bin/env bash
# The test run of `make test`, inside `scripts/services.sh run` (the
# services' environment is set). Every package of PKGS but the fault test
# runs first, two at a time as go test does; the fault test
# (scripts/chaos), which restarts and stalls its own private services and
# judges timings, runs after them on its own, so that the other packages'
# load does not turn its SES calls into timeouts. Both runs always happen;
# the exit status is non-zero if either failed.
set -uo pipefail
GO="${GO:-go}"
pkgs=("$@")
[[ ${#pkgs[@]} -gt 0 ]] || pkgs=(./...)
mapfile -t all < <("$GO" list "${pkgs[@]}")
rest=() chaos=()
for p in "${all[@]}"; do
  if [[ "$p" == */scripts/chaos ]]; then chaos+=("$p"); else rest+=("$p"); fi
done
rc=0
if [[ ${#rest[@]} -gt 0 ]]; then
  "$GO" test -count=1 -timeout 15m "${rest[@]}" || rc=1
fi
if [[ ${#chaos[@]} -gt 0 ]]; then
  "$GO" test -count=1 -timeout 15m "${chaos[@]}" || rc=1
fi
exit $rc
