// Types of the hookhost JavaScript guest SDK (index.js), world hookhost:hook@0.2.0.

/** The agent that sent the event ("claude", "codex", "gemini", …). */
export interface Agent {
  name: string;
  version?: string;
}

/** Fields every event has; `payload` is the whole event as the agent sent it. */
interface EventBase {
  name: string;
  toolName?: string;
  agent?: Agent;
  payload: Record<string, unknown>;
  payloadJson: string;
  cwd?: string;
  sessionId?: string;
}

interface ToolEvent extends EventBase {
  toolName: string;
  toolInput: Record<string, unknown>;
  /** The command of a Bash tool call. */
  bashCommand?: string;
  /** tool_input.file_path, else notebook_path, else path. */
  filePath?: string;
}

export interface PreToolUse extends ToolEvent {
  name: "PreToolUse";
  toolUseId?: string;
}
export interface PostToolUse extends ToolEvent {
  name: "PostToolUse";
  toolResponse: unknown;
}
export interface PostToolUseFailure extends ToolEvent {
  name: "PostToolUseFailure";
  error: string;
  isInterrupt: boolean;
}
export interface UserPromptSubmit extends EventBase {
  name: "UserPromptSubmit";
  prompt: string;
}
export interface ConfigChange extends EventBase {
  name: "ConfigChange";
  /** user_settings, project_settings, local_settings, policy_settings, skills */
  source: string;
  /** The settings file that changed. */
  filePath?: string;
}
export interface Stop extends EventBase {
  name: "Stop" | "SubagentStop";
  stopHookActive: boolean;
  lastAssistantMessage?: string;
}
export interface SessionStart extends EventBase {
  name: "SessionStart";
  source: string;
}
export interface SessionEnd extends EventBase {
  name: "SessionEnd";
  reason: string;
}
export interface Notification extends EventBase {
  name: "Notification";
  message: string;
}
export interface PreCompact extends EventBase {
  name: "PreCompact";
  trigger: string;
}
/** Any other event: see `name` and `payload`. */
export interface OtherEvent extends EventBase {}

export type Event =
  | PreToolUse | PostToolUse | PostToolUseFailure | UserPromptSubmit | ConfigChange | Stop
  | SessionStart | SessionEnd | Notification | PreCompact | OtherEvent;

export type Decision = "allow" | "deny" | "ask" | "defer" | "block";
export const DECISIONS: Decision[];

/** A hook's answer; none() says nothing. */
export class Answer {
  decision?: Decision;
  reason?: string;
  additionalContext?: string;
  updatedInput?: Record<string, unknown>;
  systemMessage?: string;
  withReason(text: string): Answer;
  withContext(text: string): Answer;
  withSystemMessage(text: string): Answer;
  withUpdatedInput(toolInput: Record<string, unknown>): Answer;
}

export function none(): Answer;
export function allow(): Answer;
export function deny(reason: string): Answer;
export function ask(reason: string): Answer;
export function defer(): Answer;
export function block(reason: string): Answer;
export function rewrite(toolInput: Record<string, unknown>, reason?: string): Answer;
export function context(text: string): Answer;
export function systemMessage(text: string): Answer;

export function parseEvent(name: string, toolName: string | undefined, payloadJson: string, agent?: Agent): Event;
export function toResponse(answer: Answer): Record<string, unknown>;
/** The component's `handle` export: `export const handle = hook(policy);`. */
export function hook(policy: (event: Event) => Answer): (event: unknown) => Record<string, unknown>;

/** One simple command of a Bash command line (shell.js). */
export interface Command {
  program: string;
  args: string[];
  piped: boolean;
  redirects: string[];
}
export function commands(line: string): Command[];
export function hasFlag(command: Command, shorts: string, long: string): boolean;

/** Gitignore-style path rules (paths.js). */
export function relative(path: string, cwd: string): string;
export function glob(pattern: string, name: string): boolean;
export class Rules {
  constructor(rules: string[]);
  matching(rel: string): string | null;
}
