//! Any bytes as a Conditional Access policy document (or a named-location list): parsing,
//! validation, compilation and evaluation must never panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tessera_policy::{AnyDirectory, NamedLocation, PolicySet, SignInContext, parse_policy, validate_policy};

static CONTEXT: LazyLock<Option<SignInContext>> = LazyLock::new(|| {
    serde_json::from_str(
        r#"{"user":{"id":"alice","groups":["engineering"],"risk":"medium"},"application":"mail",
            "device":{"id":"d","platform":"windows","registered":true,"compliant":false,"trustType":"registered"},
            "clientAppType":"mobileAppsAndDesktopClients","ip":"203.0.113.9",
            "satisfied":{"mfa":false,"tokenBinding":"missing"}}"#,
    )
    .ok()
});

fuzz_target!(|data: &[u8]| {
    let locations: Vec<NamedLocation> = serde_json::from_slice(data).unwrap_or_default();
    if let Ok(policy) = parse_policy(data) {
        let _ = validate_policy(&policy, &AnyDirectory, &locations);
        if let (Ok(set), Some(ctx)) = (
            PolicySet::new(vec![policy], locations, &AnyDirectory),
            CONTEXT.as_ref(),
        ) {
            let decision = set.what_if(ctx);
            let _ = serde_json::to_string(&decision.explain(&set));
        }
    }
});
