// block-dangerous-bash in JavaScript: the same policy as ../../wasm/block-dangerous-bash (Rust)
// and ../../wasm-python/block-dangerous-bash (Python), passing the same tests.
import { commands, deny, hasFlag, hook, none } from "../../../sdk/js/index.js";
import * as log from "../../../sdk/js/log.js";

/** Interpreters that must not read a script from a pipe. */
const SHELLS = ["sh", "bash", "zsh", "dash", "ksh", "fish", "python", "python3", "perl", "ruby", "node"];

/** Why `line` is dangerous, if it is. */
function danger(line) {
  const cmds = commands(line);
  for (const [i, c] of cmds.entries()) {
    const prev = cmds[i - 1];
    if (prev?.piped && ["curl", "wget"].includes(prev.program) && SHELLS.includes(c.program)) return "`curl … | sh` runs code downloaded from the network";
    if (c.program === "rm" && hasFlag(c, "rR", "recursive") && hasFlag(c, "f", "force")) return "`rm -rf` deletes recursively";
    if (c.program === "chmod" && ["777", "0777", "a+rwx", "ugo+rwx"].some((m) => c.args.includes(m))) return "`chmod 777` opens files";
    if (c.program.startsWith("mkfs")) return "`mkfs` formats a file system";
    if (c.program === "dd" && c.args.some((a) => a.startsWith("of=/dev/"))) return "`dd of=/dev/…` overwrites a device";
    if (c.program === ":" && line.replace(/\s/g, "").includes(":(){:|:&};:")) return "a fork bomb";
  }
  return null;
}

export const handle = hook((event) => {
  const why = event.bashCommand ? danger(event.bashCommand) : null;
  if (!why) return none();
  log.info(`denied: ${why}`);
  return deny(`Blocked by block-dangerous-bash: ${why}. Ask the user to run it if it is really needed.`);
});
