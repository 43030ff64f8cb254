//! Claude Code (observed: 2.1.328, `fixtures/claude-code-2.1.328/`): the canonical form itself.
//!
//! *In*: the bytes are passed on unchanged (no `agent` object is added: Claude Code's payload
//! is the canonical event). *Out*: hookhost's answer is already Claude Code's form and is
//! passed on unchanged (see `design/hook-protocol.md`). This module exists so that every agent
//! has one place that says what its adapter does; [`super::Agent::accept`] and
//! [`super::Inbound::render`] implement the identity.

/// The canonical event of a Claude Code payload: the payload, byte for byte.
pub fn canonical(input: &[u8]) -> &[u8] {
    input
}
