//! "Not before" instants: revoking everything a user, a session or a device was issued until
//! now, without finding each token. Every place that accepts a session or token checks here.

use tessera_store::{Store, SubjectKind, Timestamp};

/// When a session or an authorization code says its user signed in: to the millisecond where it
/// says so, else the first millisecond of its `auth_time` second (it was made before Tessera
/// kept milliseconds), so that a revocation in that second still counts.
#[must_use]
pub fn signed_in(at: Option<Timestamp>, auth_time: i64) -> Timestamp {
    at.unwrap_or_else(|| tessera_jose::UnixTime(auth_time).into())
}

/// Whether anything issued at `issued` to these subjects has been revoked by a "not before"
/// instant. Both are milliseconds from the server's clock, so the comparison is exact; a tie
/// (issued in the very millisecond of the revocation) counts as revoked, the safe side.
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
