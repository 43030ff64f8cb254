#!/bin/sh
# guard-config-change: a ConfigChange hook that keeps a running agent's settings under policy.
#
# Reads the Claude Code ConfigChange event (JSON) on stdin and decides by its `source`:
#   user_settings, local_settings   blocked: the new settings are not applied (a user could
#                                   otherwise add allow rules or switch hooks off mid-session)
#   project_settings, skills        allowed (they are reviewed in the repository)
#   policy_settings                 allowed: managed settings cannot be blocked anyway
#   anything else                   allowed (no opinion), so a new source does not break sessions
#
# Exit codes (Claude Code's hook protocol):
#   0  allow / no opinion, nothing printed
#   2  block; the reason is on stderr, e.g.
#      "hookhost policy: changes to user_settings are blocked: /home/dev/.claude/settings.json"
#   1  the event could not be read (not JSON, jq missing); with "onFailure": "block" in the
#      settings, hookhost then blocks the change
set -eu

JQ=/usr/bin/jq
die() {
    printf 'guard-config-change: %s\n' "$1" >&2
    exit 1
}
[ -x "$JQ" ] || die "$JQ not found"

input=$(cat) || die "cannot read the event on stdin"

# Two lines: the source, then the changed file (either may be empty).
fields=$(printf '%s' "$input" |
    "$JQ" -r '(.source // "" | tostring | gsub("\n"; " ")), (.file_path // "" | tostring | gsub("\n"; " "))') ||
    die "the event on stdin is not valid JSON"
source=$(printf '%s\n' "$fields" | sed -n 1p)
file=$(printf '%s\n' "$fields" | sed -n 2p)

case $source in
user_settings | local_settings)
    printf 'hookhost policy: changes to %s are blocked: %s\n' "$source" "${file:-(file not given)}" >&2
    exit 2
    ;;
*)
    exit 0
    ;;
esac
