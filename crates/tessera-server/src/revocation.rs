//! "Not before" instants: revoking everything a user, a session or a device was issued until
//! now, without finding each token. Every place that accepts a session or token checks here.

use tessera_store::{Store, SubjectKind, Timestamp};

/// Whether anything issued at `issued` to these subjects has been revoked by a "not before"
/// instant. Ties count as revoked: instants are whole seconds, and a token issued in the same
/// second as a revocation may have been issued just before it.
///
/// # Errors
/// From the store.
pub async fn revoked_since(
    store: &dyn Store,
    subjects: &[(SubjectKind, &str)],
    issued: Timestamp,
) -> Result<bool, tessera_store::StoreError> {
    for (kind, id) in subjects {
        if let Some(nb) = store.not_before(*kind, id).await?
            && issued.0 <= nb.0
        {
            return Ok(true);
        }
    }
    Ok(false)
}
