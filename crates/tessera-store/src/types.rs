//! The records the store keeps.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An instant, in milliseconds since the Unix epoch: the one instant type of Tessera.
pub use tessera_time::Timestamp;

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(
    /// A user id.
    UserId
);
text_id!(
    /// A group id.
    GroupId
);
text_id!(
    /// A sign-in session id.
    SessionId
);
text_id!(
    /// A refresh-token family id.
    FamilyId
);
text_id!(
    /// An SSF stream id.
    StreamId
);

/// An outbox event's id; ids grow with time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub i64);

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        /// In JSON as in the database: the one spelling is the text given.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vdoc])* #[serde(rename = $text)] $variant),+ }

        // Written out rather than derived: the derive does not see a `rename` whose text
        // comes from a macro argument, and would document the variants' Rust names.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $name {
            /// The stored text, which is also its JSON spelling.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            #[allow(dead_code, reason = "not every enum is read back from the database yet")]
            pub(crate) fn parse(s: &str) -> crate::Result<Self> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(crate::StoreError::Corrupt(format!(
                        concat!("unexpected ", stringify!($name), " {:?} in the database"), other
                    ))),
                }
            }
        }
    };
}

text_enum!(
    /// Whether a user may sign in.
    UserStatus { /** May sign in. */ Enabled = "enabled", /** May not. */ Disabled = "disabled" }
);
text_enum!(
    /// A user's risk level.
    RiskLevel {
        /// No risk.
        None = "none",
        /// Low.
        Low = "low",
        /// Medium.
        Medium = "medium",
        /// High.
        High = "high",
    }
);
text_enum!(
    /// What a "not before" instant applies to.
    SubjectKind { /** A user. */ User = "user", /** A session. */ Session = "session", /** A device. */ Device = "device" }
);
text_enum!(
    /// An SSF stream's status.
    StreamStatus {
        /// Delivering.
        Enabled = "enabled",
        /// Keeping events, not delivering.
        Paused = "paused",
        /// Dropping events.
        Disabled = "disabled",
    }
);

/// A user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Unique sign-in name (stored as [`username_key`] gives it).
    pub username: String,
    /// Email address.
    pub email: Option<String>,
    /// Name for people.
    pub display_name: String,
    /// Enabled or disabled.
    pub status: UserStatus,
    /// The argon2id hash (PHC string), if the user has a password.
    pub password_hash: Option<String>,
    /// Risk level.
    pub risk: RiskLevel,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub changed_at: Timestamp,
}

/// How usernames compare: NFKC-normalised (full-width and compatibility forms fold to their
/// plain letters), lower-cased, without surrounding white space. Usernames are stored in this
/// form and every lookup goes through it, so `Alice`, `alice` and `ａｌｉｃｅ` are one account.
#[must_use]
pub fn username_key(username: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    let folded: String = username.trim().nfkc().collect::<String>().to_lowercase();
    // Lower-casing can leave a string that NFKC would change again (rare, but possible).
    folded.nfkc().collect()
}

/// A user to create (enabled, no risk).
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Id.
    pub id: UserId,
    /// Unique sign-in name.
    pub username: String,
    /// Email address.
    pub email: Option<String>,
    /// Name for people.
    pub display_name: String,
    /// Password hash, if any.
    pub password_hash: Option<String>,
    /// Now.
    pub created_at: Timestamp,
}

/// Changes to a user; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    /// New status.
    pub status: Option<UserStatus>,
    /// New risk level.
    pub risk: Option<RiskLevel>,
    /// New password hash (`Some(None)` removes the password).
    pub password_hash: Option<Option<String>>,
    /// New display name.
    pub display_name: Option<String>,
}

/// A group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Id.
    pub id: GroupId,
    /// Unique name.
    pub name: String,
    /// Created.
    pub created_at: Timestamp,
}

/// A sign-in session to start.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Id.
    pub id: SessionId,
    /// The user.
    pub user_id: UserId,
    /// The client it was issued to.
    pub client_id: String,
    /// The registered device the session is bound to, if any.
    pub device_id: Option<String>,
    /// The DPoP key thumbprint the session's tokens are bound to, if any.
    pub jkt: Option<String>,
    /// The browser session (its `sid`) the user signed in with, when the session was started
    /// from one: signing out of that browser session ends this one too.
    pub browser_sid: Option<String>,
    /// Now.
    pub created_at: Timestamp,
}

/// The first refresh token of a session's family.
#[derive(Debug, Clone)]
pub struct NewFamily {
    /// Family id.
    pub id: FamilyId,
    /// Hash of the first refresh token.
    pub token_hash: Vec<u8>,
    /// When the family expires unless rotated.
    pub expires_at: Timestamp,
    /// What the family grants (scope, resource, authentication), as the server defines it.
    pub grant: serde_json::Value,
}

/// A refresh-token family with its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// Family id.
    pub id: FamilyId,
    /// The session.
    pub session_id: SessionId,
    /// The user.
    pub user_id: UserId,
    /// The client.
    pub client_id: String,
    /// The bound device, if any.
    pub device_id: Option<String>,
    /// The bound key thumbprint, if any.
    pub jkt: Option<String>,
    /// How many rotations so far (the current token's generation).
    pub generation: i64,
    /// Created.
    pub created_at: Timestamp,
    /// Last rotated.
    pub rotated_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// When revoked, if revoked.
    pub revoked_at: Option<Timestamp>,
    /// Why revoked.
    pub revoked_reason: Option<String>,
    /// What the family grants, as given at the start of the session.
    pub grant: serde_json::Value,
}

/// A rotation request: the presented token's hash and the next token's.
#[derive(Debug, Clone, Copy)]
pub struct Rotate<'a> {
    /// Hash of the presented refresh token.
    pub presented: &'a [u8],
    /// Hash of the refresh token to issue next.
    pub next: &'a [u8],
    /// Now.
    pub now: Timestamp,
    /// The family's new expiry.
    pub expires_at: Timestamp,
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The presented token was current; the next one is now current.
    Rotated(Family),
    /// The presented token was already used (or lost a race to a concurrent use): the whole
    /// family is now revoked.
    Reused(Family),
    /// The family had been revoked before.
    Revoked(Family),
    /// The family expired.
    Expired(Family),
    /// No such token.
    Unknown,
}

/// An event to append to the outbox, in the same transaction as the change it describes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The event type URI (CAEP/RISC/SSF).
    pub event_type: String,
    /// The subject (a subject identifier document).
    pub subject: serde_json::Value,
    /// The event's members.
    pub payload: serde_json::Value,
    /// When the change happened.
    pub created_at: Timestamp,
}

/// A delivery claimed by a worker: one event for one stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    /// The stream.
    pub stream_id: StreamId,
    /// The event.
    pub event_id: EventId,
    /// Earlier attempts.
    pub attempts: i64,
    /// The event type URI.
    pub event_type: String,
    /// The subject.
    pub subject: serde_json::Value,
    /// The event's members.
    pub payload: serde_json::Value,
    /// When the change happened.
    pub created_at: Timestamp,
}

pub(crate) use text_enum;

/// A refresh token as presented, with what a refresh checks before rotating it.
#[derive(Debug, Clone, PartialEq)]
pub struct PresentedToken {
    /// Its family.
    pub family: Family,
    /// The family's user, `None` once deleted.
    pub user: Option<User>,
    /// The device registered with the DPoP key the request was signed with, when one was given
    /// and one is (whoever's it is, in whatever state).
    pub device: Option<crate::directory_types::Device>,
    /// Whether it is the family's current token (not yet rotated out).
    pub current: bool,
    /// The user's "not before" instant.
    pub user_not_before: Option<Timestamp>,
    /// The session's "not before" instant.
    pub session_not_before: Option<Timestamp>,
    /// The "not before" instant of the device the session is bound to, if it is.
    pub device_not_before: Option<Timestamp>,
    /// An address an API saw the session used from where a location policy would apply
    /// (see [`crate::TokenRepo::mark_presented`]).
    pub presented_ip: Option<String>,
    /// The user's groups, ordered by id.
    pub groups: Vec<GroupId>,
}

impl PresentedToken {
    /// Whether the "not before" instant of the user, the session or the device revokes the
    /// family (a tie revokes: it may have been issued in the very millisecond before).
    #[must_use]
    pub fn revoked_since_issue(&self) -> bool {
        [
            self.user_not_before,
            self.session_not_before,
            self.device_not_before,
        ]
        .into_iter()
        .flatten()
        .any(|nb| self.family.created_at <= nb)
    }
}

/// RFC 8935 push delivery, as a stream configuration's `delivery.method` names it.
pub const PUSH_DELIVERY: &str = "urn:ietf:rfc:8935";

/// Which streams' deliveries a claim takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimScope<'a> {
    /// Every enabled stream.
    Any,
    /// Enabled streams delivered by push: the push worker's share.
    Push,
    /// As [`ClaimScope::Push`], leaving out streams whose earlier deliveries are still being
    /// pushed, so one slow receiver neither holds up the others nor gets two pushes at once.
    PushExcept(&'a [StreamId]),
    /// One stream: a receiver polling it.
    Stream(&'a StreamId),
}
