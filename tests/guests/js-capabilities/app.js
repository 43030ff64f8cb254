// Capability probe: tries to reach the host's environment and network and reports, for each,
// name=ok:<value> or name=err:<ErrorName> in its deny reason.
import { deny, hook } from "../../../sdk/js/index.js";

function probe(name, f) {
  try {
    return `${name}=ok:${String(JSON.stringify(f())).slice(0, 200)}`;
  } catch (e) {
    return `${name}=err:${e?.name ?? typeof e}`;
  }
}

// Events this instance has seen: 1 on every event when each event gets a fresh instance.
let calls = 0;

export const handle = hook((event) => {
  calls += 1;
  const port = Number(event.payload.port ?? 9);
  return deny(
    [
      probe("process", () => typeof process),
      probe("require", () => typeof require),
      probe("Deno", () => typeof Deno),
      probe("fetch", () => fetch(`http://127.0.0.1:${port}/`)),
      probe("XMLHttpRequest", () => typeof XMLHttpRequest),
      probe("WebSocket", () => typeof WebSocket),
      probe("random", () => crypto.getRandomValues(new Uint8Array(4)).length),
      probe("agent", () => event.agent?.name ?? null),
      probe("calls", () => calls),
    ].join(" "),
  );
});
