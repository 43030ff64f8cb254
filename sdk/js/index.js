// Write hookhost WebAssembly hooks in JavaScript (componentize-js 0.23.0, world
// hookhost:hook@0.2.0). Types: index.d.ts.
//
//   import { hook, deny, none } from "./hookhost-guest/index.js";
//
//   export const handle = hook((event) => {
//     if (event.name === "PreToolUse" && event.bashCommand?.includes("rm -rf")) return deny("no rm -rf");
//     return none();
//   });
//
// Build: componentize-js app.js --wit wit -n hook -d http -d fetch-event -o hook.wasm (build.sh
// does it). The policy takes an Event (plain object: name, toolName, agent, payload — the whole
// event — and the fields of its kind) and returns an Answer: none(), allow(), deny(reason),
// ask(reason), defer(), block(reason), rewrite(toolInput), context(text), systemMessage(text).
// An exception in the policy is a hook *failure* ("<ErrorName>: <message>", handled by the
// hook's onFailure), never a "no". Helpers: shell.js (split a Bash command line), paths.js
// (gitignore-style rules), log.js (hookhost's log). A hook has no other capability: no files, no
// environment, no network.

export { commands, hasFlag } from "./shell.js";
export { relative, Rules, glob } from "./paths.js";

// A hook has no network. Built with `-d http` (hookhost refuses wasi:http imports), the engine's
// fetch would trap and end the hook as a failure; here it throws a TypeError the policy can catch
// (and that hook() reports). Outside a component (node, for unit tests) nothing changes.
if (typeof globalThis.fetch === "function" && typeof process === "undefined") {
  globalThis.fetch = function fetch() {
    throw new TypeError("fetch: a hookhost hook has no network access");
  };
}

const str = (v) => (typeof v === "string" ? v : undefined);

/**
 * The typed event for hookhost's fields and payload text (throws if the payload is not a JSON
 * object).
 * @returns {import("./index.d.ts").Event}
 */
export function parseEvent(name, toolName, payloadJson, agent) {
  const payload = JSON.parse(payloadJson);
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
    throw new TypeError("event is not a JSON object");
  }
  if (!agent && payload.agent && typeof payload.agent.name === "string") {
    agent = { name: payload.agent.name, version: str(payload.agent.version) };
  }
  const toolInput = payload.tool_input && typeof payload.tool_input === "object" ? payload.tool_input : {};
  const e = {
    name,
    toolName: toolName ?? str(payload.tool_name),
    agent: agent ? { name: agent.name, version: agent.version ?? undefined } : undefined,
    payload,
    payloadJson,
    cwd: str(payload.cwd),
    sessionId: str(payload.session_id),
  };
  const s = (k) => str(payload[k]) ?? "";
  const b = (k) => payload[k] === true;
  switch (name) {
    case "PreToolUse":
    case "PostToolUse":
    case "PostToolUseFailure":
      e.toolInput = toolInput;
      e.bashCommand = e.toolName === "Bash" ? str(toolInput.command) : undefined;
      e.filePath = str(toolInput.file_path) ?? str(toolInput.notebook_path) ?? str(toolInput.path);
      if (name === "PreToolUse") e.toolUseId = str(payload.tool_use_id);
      if (name === "PostToolUse") e.toolResponse = payload.tool_response;
      if (name === "PostToolUseFailure") Object.assign(e, { error: s("error"), isInterrupt: b("is_interrupt") });
      break;
    case "UserPromptSubmit":
      e.prompt = s("prompt");
      break;
    case "ConfigChange":
      Object.assign(e, { source: s("source"), filePath: str(payload.file_path) });
      break;
    case "Stop":
    case "SubagentStop":
      Object.assign(e, { stopHookActive: b("stop_hook_active"), lastAssistantMessage: str(payload.last_assistant_message) });
      break;
    case "SessionStart":
      e.source = s("source");
      break;
    case "SessionEnd":
      e.reason = s("reason");
      break;
    case "Notification":
      e.message = s("message");
      break;
    case "PreCompact":
      e.trigger = s("trigger");
      break;
  }
  return e;
}

export const DECISIONS = ["allow", "deny", "ask", "defer", "block"];

/** A hook's answer; none() says nothing. */
export class Answer {
  constructor(decision, reason) {
    this.decision = decision;
    this.reason = reason;
    this.additionalContext = undefined;
    this.updatedInput = undefined;
    this.systemMessage = undefined;
  }
  withReason(text) {
    this.reason = text;
    return this;
  }
  withContext(text) {
    this.additionalContext = text;
    return this;
  }
  withSystemMessage(text) {
    this.systemMessage = text;
    return this;
  }
  withUpdatedInput(toolInput) {
    this.updatedInput = toolInput;
    return this;
  }
}

/** No opinion. */
export const none = () => new Answer(undefined, undefined);
/** Allow (PreToolUse: skip the permission prompt). */
export const allow = () => new Answer("allow", undefined);
/** Deny the tool call; the reason goes to the model. */
export const deny = (reason) => new Answer("deny", reason);
/** Ask the user; the reason is shown to them. */
export const ask = (reason) => new Answer("ask", reason);
/** Defer the tool call. */
export const defer = () => new Answer("defer", undefined);
/** Block the action (events other than PreToolUse). */
export const block = (reason) => new Answer("block", reason);
/** Allow the tool call with `toolInput` (an object) as its whole new input. */
export const rewrite = (toolInput, reason) => new Answer("allow", reason).withUpdatedInput(toolInput);
/** No decision, extra context for the model. */
export const context = (text) => none().withContext(text);
/** No decision, a warning shown to the user. */
export const systemMessage = (text) => none().withSystemMessage(text);

/** The WIT response for an answer. */
export function toResponse(answer) {
  if (!(answer instanceof Answer)) throw new TypeError(`the policy returned ${typeof answer}, not an Answer`);
  if (answer.decision !== undefined && !DECISIONS.includes(answer.decision)) {
    throw new TypeError(`unknown decision ${JSON.stringify(answer.decision)} (one of ${DECISIONS.join(", ")})`);
  }
  const r = {};
  if (answer.decision !== undefined) r.decision = answer.decision;
  if (answer.reason !== undefined) r.reason = String(answer.reason);
  if (answer.additionalContext !== undefined) r.additionalContext = String(answer.additionalContext);
  if (answer.updatedInput !== undefined) r.updatedInputJson = JSON.stringify(answer.updatedInput);
  if (answer.systemMessage !== undefined) r.systemMessage = String(answer.systemMessage);
  return r;
}

/**
 * The component's `handle` export: `export const handle = hook(policy);`. An exception in the
 * policy (or an event that is not JSON) is the hook's error result, "<ErrorName>: <message>".
 * @param {(event: import("./index.d.ts").Event) => Answer} policy
 */
export function hook(policy) {
  return function handle(event) {
    try {
      return toResponse(policy(parseEvent(event.hookEventName, event.toolName, event.payloadJson, event.agent)));
    } catch (err) {
      throw err instanceof Error ? `${err.name}: ${err.message}` : `Error: ${String(err)}`;
    }
  };
}
