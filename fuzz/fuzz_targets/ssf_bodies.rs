//! Any bytes as an SSF request body (stream create/update/replace, status, poll) or as a SET's
//! event: parsing and validation must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_signals::{PollRequest, SecurityEvent, StatusUpdate, StreamConfig, TransmitterSettings};

fuzz_target!(|data: &[u8]| {
    let _ = PollRequest::parse(data);
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let supported = vec![
        "https://schemas.openid.net/secevent/caep/event-type/session-revoked".to_owned(),
        "https://schemas.openid.net/secevent/risc/event-type/account-disabled".to_owned(),
    ];
    let settings = TransmitterSettings {
        stream_id: "s",
        issuer: "https://idp.example",
        audience: "api",
        events_supported: &supported,
        poll_endpoint: "https://idp.example/ssf/poll/s",
        min_verification_interval: 30,
        allow_http_loopback: true,
    };
    if let Ok(config) = StreamConfig::create(&body, &settings) {
        let _ = config.update(&body, &settings);
        let _ = config.replace(&body, &settings);
    }
    let _ = StatusUpdate::parse(&body);
    if let serde_json::Value::Object(map) = &body {
        for (event_type, payload) in map {
            if let serde_json::Value::Object(payload) = payload {
                let event = tessera_jose::set::Event {
                    event_type: event_type.clone(),
                    payload: payload.clone(),
                };
                if let Ok(typed) = SecurityEvent::from_set_event(&event) {
                    let _ = typed.to_set_event();
                }
            }
        }
    }
});
