// Lines in hookhost's log, attributed to the hook (RUST_LOG=hookhost=info shows them). Only for
// use inside a component: it imports the world's `log` interface.
import { write } from "hookhost:hook/log@0.2.0";

export const debug = (message) => write("debug", String(message));
export const info = (message) => write("info", String(message));
export const warn = (message) => write("warn", String(message));
export const error = (message) => write("error", String(message));
