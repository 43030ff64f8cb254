//! A component built against world `hookhost:hook@0.1.0` (the frozen `wit/compat/0.1.0`) with
//! plain wit-bindgen, as hooks were written before 0.2.0: denies every event, naming it, and logs.

wit_bindgen::generate!({ world: "hook", path: "../../../../wit/compat/0.1.0" });

use hookhost::hook::log::{Level, write};

struct Compat;

impl Guest for Compat {
    fn handle(event: Event) -> Result<Response, String> {
        write(Level::Info, "world 0.1.0 guest called");
        Ok(Response {
            decision: Some(Decision::Deny),
            reason: Some(format!(
                "0.1.0 guest saw {} {} ({} bytes of payload)",
                event.hook_event_name,
                event.tool_name.as_deref().unwrap_or("-"),
                event.payload_json.len()
            )),
            additional_context: None,
            updated_input_json: None,
            system_message: None,
        })
    }
}

export!(Compat);
