//! Where the adapters meet `dispatch`: the agent's payload in, the canonical event through
//! whatever evaluates it (in-process or the daemon), the answer out in the agent's form. The
//! evaluation is a closure, so the same boundary serves every front end that dispatches.
//!
//! A front end (it takes `cli`'s arguments): the adapters themselves (`crate::agents`), which
//! the bus, permissions and `hookhost test` use, stay below it.

use crate::agents::Agent;
use crate::cli::DispatchArgs;
use crate::decision::Response;

/// Runs `evaluate` on the canonical form of `input` and renders its answer for `agent`.
/// Claude Code: `evaluate(args, input)` with the bytes and answer unchanged.
pub fn dispatch(
    agent: Agent,
    event_hint: Option<&str>,
    args: &DispatchArgs,
    input: &[u8],
    evaluate: impl FnOnce(&DispatchArgs, &[u8]) -> Response,
) -> Response {
    if agent == Agent::Claude {
        return evaluate(args, input);
    }
    match agent.accept(input, event_hint) {
        Ok(inbound) => {
            // The canonical event carries the original payload too.
            let canonical_args =
                DispatchArgs { max_event_bytes: canonical_limit(args.max_event_bytes), ..args.clone() };
            let answer = evaluate(&canonical_args, &inbound.canonical);
            inbound.render(&answer)
        }
        // A payload the adapter cannot read (not JSON, not an object, no event name) is not a
        // valid event either: evaluated as it is, it gets the host's invalid-event answer
        // (failure policy, audit record) — an exit code every agent reads the same way.
        Err(_) => evaluate(args, input),
    }
}

/// The size limit of a canonical event: the payload appears twice in it (mapped, and under
/// `agent.payload`).
pub fn canonical_limit(limit: usize) -> usize {
    limit.saturating_mul(2).saturating_add(64 * 1024)
}
