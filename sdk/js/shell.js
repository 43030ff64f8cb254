// A Bash command line split into its simple commands (the same splitter as the Rust and Python
// SDKs, one test corpus: sdk/testdata/shell.json).
//
// Words follow Bash's quoting ('…', "…", backslash); commands are split at ;, &&, ||, &, |, |&,
// newlines and parentheses; redirections (> f, 2>&1, <f) are taken out of the arguments into
// `redirects`; leading assignments (X=1), keywords (if, then, do, !, { …) and wrappers
// (sudo -u root, env X=1, timeout 5, xargs -0 …) are dropped; the script of sh -c '…',
// bash -lc "…" and eval … is split too, its commands following the shell's, and so are command
// and process substitutions ($(…), backticks, <(…)), their commands at the end. It is a
// heuristic, not a shell parser: variables, globs, aliases and functions are not expanded. For
// rules that must hold against an adversary use hookhost's permission rules, which parse the
// command with a real Bash grammar.

/** Wrappers: their options that take a value, and how many plain arguments precede the command. */
export const WRAPPERS = {
  sudo: [["-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T"], 0],
  doas: [["-u", "-C"], 0],
  command: [[], 0],
  builtin: [[], 0],
  exec: [["-a"], 0],
  nice: [["-n"], 0],
  nohup: [[], 0],
  time: [["-f", "-o"], 0],
  env: [["-u", "-C", "-S"], 0],
  xargs: [["-n", "-I", "-d", "-P", "-L", "-s", "-a", "-E"], 0],
  timeout: [["-s", "-k"], 1],
  stdbuf: [["-i", "-o", "-e"], 0],
  setsid: [[], 0],
  ionice: [["-c", "-n", "-p"], 0],
};
export const KEYWORDS = ["!", "{", "}", "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "in", "esac"];
export const SHELLS = ["sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "busybox"];
export const MAX_DEPTH = 8;
const BLANKS = " \t\r\x0b\x0c";

/**
 * One simple command of a command line.
 * @typedef {object} Command
 * @property {string} program the program's file name (/usr/bin/rm → rm), after wrappers
 * @property {string[]} args
 * @property {boolean} piped whether its output is piped (|, |&) into the next command
 * @property {string[]} redirects the targets of its redirections (> out.txt → out.txt)
 */

/**
 * Whether `command` sets one of the short flags in `shorts` (in any cluster: -rf sets r and f)
 * or --`long` (arguments after -- are not flags).
 * @param {Command} command
 * @param {string} shorts
 * @param {string} long
 */
export function hasFlag(command, shorts, long) {
  for (const a of command.args) {
    if (a === "--") break;
    if (a.startsWith("--")) {
      if (a.slice(2) === long) return true;
    } else if (Array.from(a).length > 1 && a.startsWith("-") && Array.from(shorts).some((c) => a.includes(c))) {
      return true;
    }
  }
  return false;
}

function substitution(line, i) {
  const n = line.length;
  if (line[i] === "`") {
    let j = i + 1;
    while (j < n && line[j] !== "`") j += line[j] === "\\" ? 2 : 1;
    return [i + 1, Math.min(j, n), Math.min(j + 1, n)];
  }
  let depth = 0;
  for (let j = i + 1; j < n; j++) {
    if (line[j] === "(") depth++;
    else if (line[j] === ")") {
      depth--;
      if (depth === 0) return [i + 2, j, j + 1];
    }
  }
  return [i + 2, n, n];
}

function tokens(text) {
  const line = Array.from(text); // code points, as the Rust and Python SDKs index
  const n = line.length;
  const out = [];
  const subs = [];
  let cur = null;
  let quote = null;
  const endWord = () => {
    if (cur !== null) out.push(["w", cur]);
    cur = null;
  };
  let i = 0;
  while (i < n) {
    const c = line[i];
    const nxt = i + 1 < n ? line[i + 1] : "";
    if (quote !== "'" && (c === "`" || (c === "$" && nxt === "(") || (quote === null && (c === "<" || c === ">") && nxt === "("))) {
      const [start, end, j] = substitution(line, i);
      subs.push(["sub", line.slice(start, end).join("")]);
      cur = (cur ?? "") + line.slice(i, j).join("");
      i = j;
      continue;
    }
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === "\\" && ['"', "\\", "$", "`"].includes(nxt)) {
        cur += nxt;
        i++;
      } else cur += c;
    } else if (c === "\\") {
      if (nxt === "\n") i++;
      else if (nxt !== "") {
        cur = (cur ?? "") + nxt;
        i++;
      } else cur = (cur ?? "") + c;
    } else if (c === "'" || c === '"') {
      quote = c;
      cur = cur ?? "";
    } else if (BLANKS.includes(c)) {
      endWord();
    } else if (";&|()\n".includes(c)) {
      endWord();
      if (c === "|") {
        if (nxt === "|") {
          out.push(["sep", false]);
          i++;
        } else {
          out.push(["sep", true]);
          if (nxt === "&") i++;
        }
      } else if (c === "&" && nxt === ">") {
        out.push(["redir"]);
        i = i + 2 < n && line[i + 2] === ">" ? i + 2 : i + 1;
      } else {
        if (c === "&" && nxt === "&") i++;
        out.push(["sep", false]);
      }
    } else if (c === "<" || c === ">") {
      if (cur !== null && /^[0-9]+$/.test(cur)) cur = null; // a file descriptor number: 2>
      endWord();
      let j = i;
      while (j + 1 < n && "<>&|".includes(line[j + 1])) j++;
      out.push(["redir"]);
      i = j;
    } else {
      cur = (cur ?? "") + c;
    }
    i++;
  }
  endWord();
  return out.concat(subs);
}

function isAssignment(w) {
  const eq = w.indexOf("=");
  return eq > 0 && /^[A-Za-z_][A-Za-z0-9_]*$/.test(w.slice(0, eq));
}

function strip(words) {
  let i = 0;
  while (i < words.length) {
    const w = words[i];
    if (isAssignment(w) || KEYWORDS.includes(w)) {
      i++;
    } else if (Object.hasOwn(WRAPPERS, w)) {
      const [takesValue, positional] = WRAPPERS[w];
      i++;
      while (i < words.length && words[i].startsWith("-") && words[i] !== "-") {
        if (words[i] === "--") {
          i++;
          break;
        }
        i += takesValue.includes(words[i]) ? 2 : 1;
      }
      while (i < words.length && isAssignment(words[i])) i++;
      i += positional;
    } else {
      break;
    }
  }
  return words.slice(i);
}

function inlineScript(program, args) {
  if (program === "eval") return args.join(" ");
  if (!SHELLS.includes(program)) return null;
  let seenC = false;
  let k = 0;
  while (k < args.length) {
    const a = args[k];
    if (a === "--") {
      k++;
      break;
    }
    const chars = Array.from(a);
    if (chars.length < 2 || (chars[0] !== "-" && chars[0] !== "+")) break;
    if (chars[1] !== "-") {
      seenC = seenC || a.slice(1).includes("c");
      if (a.endsWith("o") || a.endsWith("O")) k++; // -o OPTION
    }
    k++;
  }
  return seenC && k < args.length ? args[k] : null;
}

function split(line, depth) {
  const out = [];
  let words = [];
  let redirects = [];
  const scripts = [];
  let wantTarget = false;
  const flush = (piped) => {
    const rest = strip(words);
    if (rest.length > 0) {
      const parts = rest[0].split("/");
      const program = parts[parts.length - 1];
      const args = rest.slice(1);
      out.push({ program, args, piped, redirects });
      const script = inlineScript(program, args);
      if (script !== null && depth < MAX_DEPTH) out.push(...split(script, depth + 1));
    }
    words = [];
    redirects = [];
  };
  for (const [kind, v] of tokens(line)) {
    if (kind === "sub") scripts.push(v);
    else if (kind === "w") {
      if (wantTarget) {
        redirects.push(v);
        wantTarget = false;
      } else words.push(v);
    } else if (kind === "redir") wantTarget = true;
    else {
      wantTarget = false;
      flush(v);
    }
  }
  flush(false);
  if (depth < MAX_DEPTH) for (const s of scripts) out.push(...split(s, depth + 1));
  return out;
}

/**
 * The simple commands of `line`, in order (empty ones are skipped).
 * @param {string} line
 * @returns {Command[]}
 */
export function commands(line) {
  return split(line, 0);
}
