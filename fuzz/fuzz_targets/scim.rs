//! Fuzzes SCIM input from identity providers: filters, attribute paths, and PATCH bodies
//! applied to a user resource. Any input must be refused or applied, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_server::scim::schema::ResourceSchema;
use warden_server::scim::{filter, patch};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = filter::Filter::parse(text);
    let _ = filter::AttrPath::parse(text);
    if let Ok(body) = serde_json::from_str::<serde_json::Value>(text) {
        if let Ok(ops) = patch::parse(&body) {
            let mut user = serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "alice", "emails": [{"value": "a@example.com", "type": "work"}], "active": true
            });
            let _ = patch::apply(&mut user, &ops, ResourceSchema::user());
            let mut group = serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "G", "members": [{"value": "a"}]
            });
            let _ = patch::apply(&mut group, &ops, ResourceSchema::group());
        }
    }
});
