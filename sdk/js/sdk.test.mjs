// The JavaScript SDK against the corpora every SDK passes, and its event and answer mapping
// (node --test sdk/js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { commands, hasFlag } from "./shell.js";
import { relative, Rules, glob } from "./paths.js";
import { hook, parseEvent, deny, allow, ask, defer, block, rewrite, context, systemMessage, none, toResponse } from "./index.js";

const here = new URL(".", import.meta.url);
const json = (p) => JSON.parse(readFileSync(new URL(p, here), "utf8"));
const fixture = (name) => readFileSync(new URL(`../../tests/fixtures/claude-code-2.1.328/${name}.json`, here), "utf8");

test("shell corpus", () => {
  const { cases } = json("../testdata/shell.json");
  assert.ok(cases.length >= 100);
  for (const c of cases) {
    const got = commands(c.line).map((x) => [x.program, x.args, x.piped, x.redirects]);
    assert.deepEqual(got, c.commands, JSON.stringify(c.line));
  }
  const rm = commands("rm -rf --no-preserve-root x -- -f")[0];
  assert.ok(hasFlag(rm, "rR", "recursive") && hasFlag(rm, "f", "force") && !hasFlag(rm, "v", "verbose"));
  assert.ok(hasFlag(commands("rm -Rf x")[0], "rR", "recursive"));
  assert.ok(!hasFlag(commands("rm -- -r")[0], "r", "recursive"));
});

test("paths corpus", () => {
  const { rules, cases, globs } = json("../testdata/paths.json");
  const r = new Rules(rules);
  assert.ok(cases.length >= 50);
  for (const c of cases) {
    const rel = relative(c.path, c.cwd);
    assert.equal(rel, c.relative, `${c.path} in ${c.cwd}`);
    assert.equal(r.matching(rel), c.rule, `${c.path} in ${c.cwd}`);
  }
  for (const [p, n, want] of globs) assert.equal(glob(p, n), want, `${p} ${n}`);
});

test("events have typed fields", () => {
  const e = parseEvent("PreToolUse", "Bash", fixture("PreToolUse-Bash"));
  assert.equal(e.bashCommand, "ls -la && false");
  assert.equal(e.toolUseId, "toolu_mock0005");
  assert.equal(e.cwd, "/home/dev/project");
  const c = parseEvent("ConfigChange", undefined, fixture("ConfigChange-user_settings"));
  assert.deepEqual([c.source, c.filePath], ["user_settings", "/home/dev/.claude/settings.json"]);
  const s = parseEvent("Stop", undefined, fixture("Stop"));
  assert.deepEqual([s.stopHookActive, s.lastAssistantMessage], [false, "done"]);
  assert.equal(parseEvent("UserPromptSubmit", undefined, fixture("UserPromptSubmit")).prompt, "run it");
  assert.equal(parseEvent("PostToolUse", "Bash", fixture("PostToolUse-Bash")).toolResponse.stdout, "ok");
  const a = parseEvent("Stop", undefined, '{"agent": {"name": "codex", "version": "1"}}');
  assert.deepEqual(a.agent, { name: "codex", version: "1" });
  assert.throws(() => parseEvent("X", undefined, "[1]"));
});

test("answers map to the WIT response", () => {
  assert.deepEqual(toResponse(none()), {});
  for (const [a, d] of [[allow(), "allow"], [deny("r"), "deny"], [ask("r"), "ask"], [defer(), "defer"], [block("r"), "block"]]) {
    assert.equal(toResponse(a).decision, d);
  }
  assert.deepEqual(toResponse(rewrite({ command: "ls" }, "why").withSystemMessage("m")), {
    decision: "allow", reason: "why", updatedInputJson: '{"command":"ls"}', systemMessage: "m",
  });
  assert.deepEqual(toResponse(context("c")), { additionalContext: "c" });
  assert.deepEqual(toResponse(systemMessage("s")), { systemMessage: "s" });
});

test("hook reports failures as errors, never answers", () => {
  const wit = { hookEventName: "PreToolUse", toolName: "Bash", payloadJson: fixture("PreToolUse-Bash"), agent: { name: "gemini" } };
  assert.equal(hook((e) => deny(e.agent.name))(wit).reason, "gemini");
  assert.throws(() => hook(() => { throw new RangeError("boom"); })(wit), (e) => e === "RangeError: boom");
  assert.throws(() => hook(() => "deny")(wit), (e) => e.startsWith("TypeError: the policy returned string"));
  assert.throws(() => hook(() => allow())({ ...wit, payloadJson: "nope" }), (e) => e.startsWith("SyntaxError"));
});
