#!/bin/sh
# audit-edits: a PostToolUse hook for Edit, Write and MultiEdit that keeps an audit trail of
# the files the agent changed.
#
# Reads the Claude Code PostToolUse event (JSON) on stdin and appends one JSON Lines record
#   {"time":"2025-01-01T12:00:00Z","session_id":"…","tool_name":"Edit",
#    "file_path":"/abs/path","tool_use_id":"toolu_…"}
# to $CLAUDE_PROJECT_DIR/.hookhost/audit-edits.jsonl (the event's cwd when CLAUDE_PROJECT_DIR
# is unset), creating the directory if needed. time is UTC, ISO-8601.
#
# It never blocks and never prints on stdout (the edit has already happened):
#   exit 0  the record was written, or the event has no file path (nothing to record)
#   exit 1  the record could not be written (bad event, no project dir, unwritable log): a
#           non-blocking hook error with the reason on stderr. Do not set "onFailure": "block".
set -eu

JQ=/usr/bin/jq
die() {
    printf 'audit-edits: %s\n' "$1" >&2
    exit 1
}
[ -x "$JQ" ] || die "$JQ not found"

input=$(cat) || die "cannot read the event on stdin"

dir=${CLAUDE_PROJECT_DIR:-}
if [ -z "$dir" ]; then
    dir=$(printf '%s' "$input" | "$JQ" -r '.cwd // empty') ||
        die "the event on stdin is not valid JSON"
fi
[ -n "$dir" ] || die "no project directory (CLAUDE_PROJECT_DIR unset and no cwd in the event)"

now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
record=$(printf '%s' "$input" | "$JQ" -c --arg time "$now" '{
    time: $time,
    session_id: (.session_id // null),
    tool_name: (.tool_name // null),
    file_path: (.tool_input.file_path // .tool_response.filePath // null),
    tool_use_id: (.tool_use_id // null)
  } | if .file_path == null then empty else . end') || die "the event on stdin is not valid JSON"
# No file path (a tool this hook was not meant for): nothing to record.
[ -n "$record" ] || exit 0

log_dir=$dir/.hookhost
mkdir -p -- "$log_dir" || die "cannot create $log_dir"
# One short line per append (O_APPEND): concurrent hooks do not interleave records.
printf '%s\n' "$record" >>"$log_dir/audit-edits.jsonl" ||
    die "cannot append to $log_dir/audit-edits.jsonl"
exit 0
