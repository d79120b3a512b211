//! Reading back what Tessera handed the browser in a cookie: a JWS signed with the active key
//! (`tessera_jose::jws::sign`), checked against the published keys so any node can read it, and
//! typed (`typ`) so one kind of cookie is never taken for another.

use serde::de::DeserializeOwned;
use tessera_jose::jws;

use crate::state::AppState;

/// The value a cookie carries, if Tessera signed it with one of its published keys and it is
/// of type `typ`. Expiry is the caller's to check: each kind has its own rule.
pub fn read<T: DeserializeOwned>(state: &AppState, cookie: &str, typ: &str) -> Option<T> {
    let token = jws::decode(cookie).ok()?;
    if token.header().typ.as_deref() != Some(typ) {
        return None;
    }
    token.verify_with_set(state.keys.published()).ok()?;
    serde_json::from_slice(token.unverified_payload()).ok()
}
