#!/bin/sh
# block-rm-rf: a PreToolUse hook for the Bash tool that denies recursive forced removal.
#
# Reads the Claude Code PreToolUse event (JSON) on stdin and looks at tool_input.command.
# The command is split into simple commands on && || ; | |& & newline $( ` ( ) { } (but not
# on the & of redirections such as 2>&1 or &>), and every part that runs `rm` (any path, e.g.
# /bin/rm, \rm, also after sudo/env/xargs/sh -c) with both a recursive flag (-r, -R,
# --recursive) and a force flag (-f, --force), in any spelling (-rf, -fr, -Rf, -r -f,
# --recursive --force, unambiguous prefixes like --rec, flags after the operands), is denied.
#
# This is string matching, not a shell parser: `echo "rm -rf x"` and `git rm -rf x` are denied
# too (false positives, on the safe side). A command built at run time (eval, variables,
# base64) is not seen. Pair it with permission deny rules for defence in depth.
#
# Answer (Claude Code's hook protocol):
#   exit 0 + JSON on stdout  deny: {"hookSpecificOutput":{"hookEventName":"PreToolUse",
#                            "permissionDecision":"deny","permissionDecisionReason":"..."}}
#   exit 0, no output        no opinion: the normal permission flow continues
#   exit 1                   the event could not be read (not JSON, jq missing); with
#                            "onFailure": "block" in the settings, hookhost then blocks the call
set -eu

JQ=/usr/bin/jq
die() {
    printf 'block-rm-rf: %s\n' "$1" >&2
    exit 1
}
[ -x "$JQ" ] || die "$JQ not found"

input=$(cat) || die "cannot read the event on stdin"

# Prints the first offending simple command, or nothing.
offending=$(printf '%s' "$input" | "$JQ" -r '
  # Words of one simple command, quotes and backslashes removed.
  def words: gsub("[\"\u0027\\\\]"; "") | [splits("\\s+")] | map(select(length > 0));
  def is_rm: (split("/") | last) == "rm";
  # Flags among the words after `rm` (GNU rm accepts options after operands; `--` ends them).
  def rf:
    reduce .[] as $w ({r: false, f: false, done: false};
      if .done then .
      elif $w == "--" then .done = true
      elif ($w | startswith("--")) then
        if ($w | length) >= 3 and ("--recursive" | startswith($w)) then .r = true
        elif ($w | length) >= 3 and ("--force" | startswith($w)) then .f = true
        else . end
      elif ($w | test("^-[A-Za-z]+$")) then
        (if ($w | test("[rR]")) then .r = true else . end)
        | (if ($w | test("f")) then .f = true else . end)
      else . end)
    | .r and .f;
  (.tool_input.command // "")
  | if type == "string" then . else "" end
  | [splits("&&|\\|\\||;|\\|&?|(?<![<>])&(?!>)|\\n|\\$\\(|`|\\(|\\)|\\{|\\}")]
  | map(select(
      words as $w
      | any(range(0; $w | length); ($w[.] | is_rm) and ($w[. + 1:] | rf))))
  | first // empty
  | gsub("^\\s+|\\s+$"; "")
') || die "the event on stdin is not valid JSON"

[ -n "$offending" ] || exit 0

"$JQ" -cn --arg part "$offending" '
  ($part | if length > 200 then .[:200] + "…" else . end) as $p
  | {hookSpecificOutput: {
      hookEventName: "PreToolUse",
      permissionDecision: "deny",
      permissionDecisionReason:
        ("hookhost policy: recursive forced removal (rm -rf) is not allowed: `" + $p
         + "`. Remove specific files, or drop -f so each removal is visible.")
    }}'
