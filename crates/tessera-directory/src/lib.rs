//! Tessera's directory and the rules over it, with no HTTP in sight: the server's admin API,
//! the admin console and the command line all call this crate, and get typed results or a
//! [`DirectoryError`] naming the fields at fault.
//!
//! - [`Directory`] changes users, groups, applications, devices, named locations and policies.
//!   Every change is validated here, once, whoever asks for it, and a change that other systems
//!   must hear about is committed together with its CAEP/RISC events in one unit of work (the
//!   table in `tessera_signals::changes`), so an event is never lost and never sent for a change
//!   that did not happen.
//! - [`access`]: what Conditional Access sees of a sign-in (the compiled policy set, cached; the
//!   context built from the directory; the sign-in log entry); [`what_if`] runs a hypothetical
//!   sign-in through it.
//! - [`secrets`] (password and client-secret hashing), [`keys`] (the token-signing keys and the
//!   key-encryption key that seals them), [`bootstrap`] (the first administrator, Tessera's own
//!   clients) and [`streams`] (an SSF stream's status and health as operators see them).

pub mod access;
pub mod bootstrap;
pub mod keys;
pub mod secrets;
pub mod streams;
pub mod what_if;

mod applications;
mod devices;
mod policies;
mod users;

use std::sync::Arc;

use serde::Serialize;
use tessera_jose::SubjectId;
use tessera_signals::{DirectoryChange, events_for};
use tessera_store::{NewEvent, Store, StoreError, Timestamp, UnitOfWork, UserId};

pub use applications::{
    APPLICATION_CACHE_TTL, ApplicationCache, ApplicationSpec, CreatedApplication, GRANT_TYPES, GrantType,
};
pub use devices::{DevicePatch, DeviceSpec, PLATFORMS};
pub use policies::{LocationSpec, known_ids};
pub use tessera_signals::InitiatingEntity;
pub use users::{NewTotp, UserPatch, UserSpec, totp_uri};
pub use zeroize::Zeroizing;

/// Members of this group administer Tessera: the admin API (with a token that has its scope)
/// and the console. The first administrator is put in it at first start.
pub const ADMINS_GROUP: &str = "admins";

/// One problem with a field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field, as a JSON path (`redirect_uris[1]`, `conditions.users`).
    pub field: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl std::fmt::Display for FieldError {
    /// `field: message`, or the message alone for a problem with the request as a whole.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// Every problem in one sentence: each as `field: message`, joined by `; `.
#[must_use]
pub fn summary(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why a directory change was refused.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The request is not valid; every problem found.
    #[error("{}", summary(.0))]
    Invalid(Vec<FieldError>),
    /// The thing to change does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change conflicts with what exists (a taken id or name, a location still in use).
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// A secret could not be made or hashed.
    #[error(transparent)]
    Secret(#[from] secrets::SecretError),
}

impl DirectoryError {
    /// A single invalid field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<StoreError> for DirectoryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Conflict(what) => Self::Conflict(format!("{what} already exists")),
            StoreError::MissingReference(what) => Self::NotFound(what),
            other => Self::Store(other),
        }
    }
}

impl From<tessera_jose::random::RandomError> for DirectoryError {
    fn from(e: tessera_jose::random::RandomError) -> Self {
        Self::Secret(e.into())
    }
}

/// Shorthand.
pub type Result<T, E = DirectoryError> = std::result::Result<T, E>;

/// The directory, as one caller changes it at one instant.
#[derive(Clone)]
pub struct Directory {
    store: Arc<dyn Store>,
    rng: Arc<dyn tessera_jose::Random>,
    issuer: String,
    now: Timestamp,
    by: InitiatingEntity,
    applications: Option<ApplicationCache>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("issuer", &self.issuer)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl Directory {
    /// Changes made by `by` at `now` (milliseconds), raising events as `issuer`, with
    /// identifiers and secrets from `rng`.
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        rng: Arc<dyn tessera_jose::Random>,
        issuer: &str,
        now: Timestamp,
        by: InitiatingEntity,
    ) -> Self {
        Self {
            store,
            rng,
            issuer: issuer.to_owned(),
            now,
            by,
            applications: None,
        }
    }

    /// Changes to applications also reach `cache` (the server's, which client authentication
    /// reads).
    #[must_use]
    pub fn with_application_cache(mut self, cache: ApplicationCache) -> Self {
        self.applications = Some(cache);
        self
    }

    fn forget_application(&self, id: &str) {
        if let Some(cache) = &self.applications {
            cache.forget(id);
        }
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The subject identifier of a user in events: issuer and subject, as in their tokens.
    fn user_subject(&self, user: &UserId) -> SubjectId {
        SubjectId::IssSub {
            iss: self.issuer.clone(),
            sub: user.0.clone(),
        }
    }

    /// The subject of one session's events: its user and the session (an SSF complex subject),
    /// so an API ends that session's tokens and not the user's others.
    fn session_subject(&self, user: &UserId, session: &tessera_store::SessionId) -> SubjectId {
        SubjectId::Complex(tessera_jose::subject::ComplexSubject {
            user: Some(Box::new(self.user_subject(user))),
            session: Some(Box::new(SubjectId::Opaque {
                id: session.0.clone(),
            })),
            ..tessera_jose::subject::ComplexSubject::default()
        })
    }

    /// Appends the events `change` raises about `user` to `uow`.
    async fn emit(&self, uow: &mut dyn UnitOfWork, user: &UserId, change: &DirectoryChange) -> Result<()> {
        self.emit_about(uow, &self.user_subject(user), change).await
    }

    /// Appends the events `change` raises about `subject` to `uow`.
    async fn emit_about(
        &self,
        uow: &mut dyn UnitOfWork,
        subject: &SubjectId,
        change: &DirectoryChange,
    ) -> Result<()> {
        let subject = serde_json::to_value(subject).map_err(|e| StoreError::Invalid(e.to_string()))?;
        for event in events_for(change, self.now.unix_time().0, self.by) {
            let set_event = event.to_set_event();
            uow.append_event(&NewEvent {
                event_type: set_event.event_type,
                subject: subject.clone(),
                payload: serde_json::Value::Object(set_event.payload),
                created_at: self.now,
            })
            .await?;
        }
        Ok(())
    }
}

/// Checks an identifier chosen by an administrator: 1 to 128 printable characters without
/// spaces or `/` (it appears in URLs).
fn check_id(field: &str, id: &str, errors: &mut Vec<FieldError>) {
    if id.is_empty() || id.chars().count() > 128 {
        errors.push(FieldError::new(field, "must be 1 to 128 characters"));
    } else if id
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '?' | '#' | '%'))
    {
        errors.push(FieldError::new(
            field,
            "must not contain spaces, control characters, '/', '?', '#' or '%'",
        ));
    }
}

/// Checks a name for people: 1 to 200 characters, no control characters.
fn check_name(field: &str, name: &str, errors: &mut Vec<FieldError>) {
    if name.trim().is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new(field, "must be 1 to 200 characters"));
    } else if name.chars().any(char::is_control) {
        errors.push(FieldError::new(field, "must not contain control characters"));
    }
}

fn finish(errors: Vec<FieldError>) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DirectoryError::Invalid(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The password lengths the OpenAPI document states are the ones a user change checks.
    #[test]
    fn the_documented_password_lengths_are_the_checked_ones() {
        for schema in [
            <UserSpec as utoipa::PartialSchema>::schema(),
            <UserPatch as utoipa::PartialSchema>::schema(),
        ] {
            let schema = serde_json::to_value(schema).unwrap();
            let password = &schema["properties"]["password"];
            assert_eq!(password["minLength"], *users::PASSWORD_CHARS.start());
            assert_eq!(password["maxLength"], *users::PASSWORD_CHARS.end());
        }
    }

    #[test]
    fn ids_and_names() {
        let mut errors = Vec::new();
        check_id("id", "sales-eu", &mut errors);
        check_id("id", "ok.id_1", &mut errors);
        check_name("name", "Sales (EU)", &mut errors);
        assert!(errors.is_empty());
        for bad in [
            "",
            "a b",
            "a/b",
            "a?b",
            "a#b",
            "a%2f",
            "a\u{0}b",
            &"x".repeat(129),
        ] {
            let mut errors = Vec::new();
            check_id("id", bad, &mut errors);
            assert_eq!(errors.len(), 1, "{bad:?}");
        }
        for bad in ["", "   ", "a\nb", &"x".repeat(201)] {
            let mut errors = Vec::new();
            check_name("name", bad, &mut errors);
            assert_eq!(errors.len(), 1, "{bad:?}");
        }
    }
}
