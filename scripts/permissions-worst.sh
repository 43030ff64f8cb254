#!/usr/bin/env bash
# Runs every worst-case permission event (benches/support/permission_cases.rs, each ≤ 1 MiB)
# through the release `hookhost dispatch` under the issue's admin policy and prints the wall
# time and peak memory of each (GNU time). Issue 17 §9: every event ≤ 1 MiB decided in ≤ 1 s and
# ≤ 64 MiB. A measurement, not a test: it never fails on the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin hookhost --example permission_worst
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/managed" "$work/project/secrets" "$work/project/.hookhost" "$work/xdg" "$work/state"
echo 'SECRET=1' > "$work/project/.env"
target/release/examples/permission_worst "$work/events" "$work/project"
cp "$work/events/policy.json" "$work/managed/managed-settings.json"
printf '%-32s %9s %9s %10s  %s\n' case bytes seconds "peak KiB" answer
for e in "$work"/events/*.json; do
  name="$(basename "$e" .json)"
  [ "$name" = policy ] && continue
  out="$(HOOKHOST_MANAGED_DIR="$work/managed" XDG_CONFIG_HOME="$work/xdg" XDG_STATE_HOME="$work/state" HOME="$work" \
    /usr/bin/time -f '%e %M' -o "$work/time" target/release/hookhost dispatch --project-dir "$work/project" < "$e" 2>/dev/null || true)"
  read -r secs kib < "$work/time"
  answer="$(printf '%s' "$out" | grep -o '"permissionDecision":"[a-z]*"' | cut -d'"' -f4 || true)"
  printf '%-32s %9s %9s %10s  %s\n' "$name" "$(stat -c %s "$e")" "$secs" "$kib" "${answer:-none}"
done
