#!/bin/sh
# protect-secrets: a PreToolUse hook for Read, Edit, Write and MultiEdit that keeps the agent
# away from secret files.
#
# Reads the Claude Code PreToolUse event (JSON) on stdin and looks at tool_input.file_path.
# Denied:
#   * a file named `.env` or `.env.<anything>` (.env.local, .env.production, ...), except the
#     template `.env.example`, which is allowed;
#   * any path with a component named `secrets` (the directory itself and everything below it,
#     like the permission rule `Read(./secrets/**)`, but at any depth).
# Only the path string is checked: a symlink to a secret under another name is not seen, and
# the Bash tool (`cat .env`) is not covered; add permission deny rules for those.
#
# Answer (Claude Code's hook protocol):
#   exit 0 + JSON on stdout  deny: {"hookSpecificOutput":{"hookEventName":"PreToolUse",
#                            "permissionDecision":"deny","permissionDecisionReason":"..."}}
#   exit 0, no output        no opinion (not a secret, or no file_path)
#   exit 1                   the event could not be read (not JSON, jq missing); with
#                            "onFailure": "block" in the settings, hookhost then blocks the call
set -eu

JQ=/usr/bin/jq
die() {
    printf 'protect-secrets: %s\n' "$1" >&2
    exit 1
}
[ -x "$JQ" ] || die "$JQ not found"

input=$(cat) || die "cannot read the event on stdin"

printf '%s' "$input" | "$JQ" -c '
  (.tool_name // "the tool") as $tool
  | (.tool_input.file_path // "") as $path
  | if ($path | type) != "string" or $path == "" then empty else . end
  | ($path | split("/") | map(select(. != ""))) as $parts
  | ($parts | last // "") as $base
  | (if $base == ".env.example" then null
     elif $base == ".env" or ($base | startswith(".env.")) then
       "it is an environment file (\($base)) that holds secrets; use .env.example for placeholders"
     elif $base == "secrets" then "it is a secrets/ directory"
     elif ($parts | index("secrets")) != null then "it is inside a secrets/ directory"
     else null end) as $why
  | if $why == null then empty else
      {hookSpecificOutput: {
        hookEventName: "PreToolUse",
        permissionDecision: "deny",
        permissionDecisionReason:
          "hookhost policy: \($tool) of \($path) is not allowed: \($why)."
      }}
    end
' || die "the event on stdin is not valid JSON"
