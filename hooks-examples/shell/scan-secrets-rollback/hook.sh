#!/bin/sh
# scan-secrets-rollback: a PostToolUse hook for Edit, Write, MultiEdit and NotebookEdit that
# rejects a change which leaves an AWS access key id (AKIA followed by 16 upper-case letters or
# digits) in the file. Registered with "rollback": true, so hookhost puts the file back as it
# was before the tool ran (or removes it, if the tool created it) when this hook blocks.
#
# Reads the Claude Code PostToolUse event (JSON) on stdin and scans the file named by
# tool_input.file_path (tool_input.notebook_path for NotebookEdit; a relative path is resolved
# against the event's cwd). When the file cannot be read (not there, or not granted by the
# sandbox), the text the tool wrote is scanned instead (content, new_string, edits[].new_string,
# new_source).
#
# Answer (Claude Code's hook protocol):
#   exit 0 + JSON on stdout  block: {"decision":"block","reason":"..."}
#   exit 0, no output        no opinion (no key found, or not a file-editing call)
#   exit 1                   the event could not be read (not JSON, jq missing); with
#                            "onFailure": "block" in the settings, hookhost then blocks (and
#                            rolls back) the change
set -eu

JQ=/usr/bin/jq
PATTERN='AKIA[0-9A-Z]{16}'
die() {
    printf 'scan-secrets-rollback: %s\n' "$1" >&2
    exit 1
}
[ -x "$JQ" ] || die "$JQ not found"

input=$(cat) || die "cannot read the event on stdin"
path=$(printf '%s' "$input" | "$JQ" -r '
  (.tool_input.file_path // .tool_input.notebook_path // "") as $p
  | if ($p | type) != "string" or $p == "" then ""
    elif ($p | startswith("/")) then $p
    else ((.cwd // "") + "/" + $p) end
') || die "the event on stdin is not valid JSON"
[ -n "$path" ] || exit 0
tool=$(printf '%s' "$input" | "$JQ" -r '.tool_name // "the tool"')

if [ -f "$path" ] && [ -r "$path" ]; then
    grep -Eq "$PATTERN" "$path" || exit 0
    where="$path now contains"
else
    printf '%s' "$input" | "$JQ" -r '
      .tool_input | [.content, .new_string, (.edits // [] | .[]?.new_string), .new_source]
      | map(select(type == "string")) | .[]
    ' | grep -Eq "$PATTERN" || exit 0
    where="the text written to $path contains"
fi

"$JQ" -n -c --arg tool "$tool" --arg where "$where" '{
  decision: "block",
  reason: "hookhost policy: \($tool) rejected: \($where) an AWS access key id (AKIA...). Keep secrets out of the repository: read them from the environment or a secret store."
}'
