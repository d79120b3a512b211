//! Subject identifiers for Security Event Tokens: the simple formats of RFC 9493 and the
//! complex subjects of the OpenID Shared Signals Framework 1.0.
//!
//! On the wire each is a JSON object tagged by `format`. [`SubjectId::validate`] applies the
//! rules serde cannot: non-empty values, `acct:` account URIs, E.164-looking phone numbers, no
//! nested `aliases`, and at least one member in a complex subject.

use serde::{Deserialize, Serialize};

/// A subject identifier (`sub_id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum SubjectId {
    /// `acct:` URI (RFC 7565).
    Account {
        /// The `acct:` URI.
        uri: String,
    },
    /// An email address.
    Email {
        /// The address.
        email: String,
    },
    /// Issuer and subject, as in an ID token.
    IssSub {
        /// The issuer.
        iss: String,
        /// The subject at that issuer.
        sub: String,
    },
    /// An identifier meaningful only to transmitter and receiver.
    Opaque {
        /// The identifier.
        id: String,
    },
    /// A telephone number in E.164 form.
    PhoneNumber {
        /// The number, `+` then digits.
        phone_number: String,
    },
    /// A decentralised identifier URL.
    Did {
        /// The DID URL.
        url: String,
    },
    /// A URI.
    Uri {
        /// The URI.
        uri: String,
    },
    /// Several identifiers for one subject.
    Aliases {
        /// The identifiers; none may itself be `aliases`.
        identifiers: Vec<SubjectId>,
    },
    /// An SSF complex subject: named facets of the subject, each an identifier.
    Complex(ComplexSubject),
}

/// The members of an SSF complex subject; at least one is present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ComplexSubject {
    /// The user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Box<SubjectId>>,
    /// The device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<Box<SubjectId>>,
    /// The session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Box<SubjectId>>,
    /// The application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<Box<SubjectId>>,
    /// The tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<Box<SubjectId>>,
    /// The organisational unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_unit: Option<Box<SubjectId>>,
    /// The group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<Box<SubjectId>>,
}

impl ComplexSubject {
    /// The members that are present, with their names.
    pub fn members(&self) -> impl Iterator<Item = (&'static str, &SubjectId)> {
        [
            ("user", &self.user),
            ("device", &self.device),
            ("session", &self.session),
            ("application", &self.application),
            ("tenant", &self.tenant),
            ("org_unit", &self.org_unit),
            ("group", &self.group),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_deref().map(|s| (name, s)))
    }
}

/// A subject identifier that breaks a rule of its format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid subject identifier: {0}")]
pub struct SubjectError(pub &'static str);

impl SubjectId {
    /// An `iss_sub` identifier.
    #[must_use]
    pub fn iss_sub(iss: impl Into<String>, sub: impl Into<String>) -> Self {
        Self::IssSub {
            iss: iss.into(),
            sub: sub.into(),
        }
    }

    /// An `opaque` identifier.
    #[must_use]
    pub fn opaque(id: impl Into<String>) -> Self {
        Self::Opaque { id: id.into() }
    }

    /// An `email` identifier.
    #[must_use]
    pub fn email(email: impl Into<String>) -> Self {
        Self::Email { email: email.into() }
    }

    /// The `format` name.
    #[must_use]
    pub const fn format(&self) -> &'static str {
        match self {
            Self::Account { .. } => "account",
            Self::Email { .. } => "email",
            Self::IssSub { .. } => "iss_sub",
            Self::Opaque { .. } => "opaque",
            Self::PhoneNumber { .. } => "phone_number",
            Self::Did { .. } => "did",
            Self::Uri { .. } => "uri",
            Self::Aliases { .. } => "aliases",
            Self::Complex(_) => "complex",
        }
    }

    /// Checks the rules of the format.
    ///
    /// # Errors
    /// [`SubjectError`] naming the rule broken.
    pub fn validate(&self) -> Result<(), SubjectError> {
        self.validate_at(0)
    }

    fn validate_at(&self, depth: usize) -> Result<(), SubjectError> {
        fn non_empty(s: &str, what: &'static str) -> Result<(), SubjectError> {
            if s.is_empty() {
                Err(SubjectError(what))
            } else {
                Ok(())
            }
        }
        if depth > 2 {
            return Err(SubjectError("subject identifiers nested too deeply"));
        }
        match self {
            Self::Account { uri } => {
                if uri.len() <= 5 || !uri.starts_with("acct:") {
                    return Err(SubjectError("account uri must be an acct: URI"));
                }
            }
            Self::Email { email } => {
                if !email.contains('@') {
                    return Err(SubjectError("email must be an address"));
                }
            }
            Self::IssSub { iss, sub } => {
                non_empty(iss, "iss must not be empty")?;
                non_empty(sub, "sub must not be empty")?;
            }
            Self::Opaque { id } => non_empty(id, "opaque id must not be empty")?,
            Self::PhoneNumber { phone_number } => {
                let digits = phone_number.strip_prefix('+').unwrap_or("");
                if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(SubjectError(
                        "phone_number must be E.164 (+ then up to 15 digits)",
                    ));
                }
            }
            Self::Did { url } => {
                if !url.starts_with("did:") {
                    return Err(SubjectError("did url must start with did:"));
                }
            }
            Self::Uri { uri } => {
                if !uri.contains(':') {
                    return Err(SubjectError("uri must be an absolute URI"));
                }
            }
            Self::Aliases { identifiers } => {
                if identifiers.is_empty() {
                    return Err(SubjectError("aliases must list at least one identifier"));
                }
                for id in identifiers {
                    if matches!(id, Self::Aliases { .. }) {
                        return Err(SubjectError("aliases must not contain aliases"));
                    }
                    id.validate_at(depth + 1)?;
                }
            }
            Self::Complex(c) => {
                let mut any = false;
                for (_, id) in c.members() {
                    any = true;
                    if matches!(id, Self::Complex(_)) {
                        return Err(SubjectError("complex subject members must be simple"));
                    }
                    id.validate_at(depth + 1)?;
                }
                if !any {
                    return Err(SubjectError("complex subject must have at least one member"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(value: serde_json::Value) -> SubjectId {
        let id: SubjectId = serde_json::from_value(value.clone()).unwrap();
        id.validate().unwrap();
        assert_eq!(serde_json::to_value(&id).unwrap(), value);
        id
    }

    #[test]
    fn rfc9493_examples_round_trip() {
        round_trip(json!({"format": "account", "uri": "acct:example.user@service.example.com"}));
        round_trip(json!({"format": "email", "email": "user@example.com"}));
        round_trip(json!({"format": "iss_sub", "iss": "https://issuer.example.com/", "sub": "145234573"}));
        round_trip(json!({"format": "opaque", "id": "11112222333344445555"}));
        round_trip(json!({"format": "phone_number", "phone_number": "+12065550100"}));
        round_trip(json!({"format": "did", "url": "did:example:123456"}));
        round_trip(json!({"format": "uri", "uri": "https://user.example.com/"}));
        let aliases = round_trip(json!({"format": "aliases", "identifiers": [
            {"format": "email", "email": "user@example.com"},
            {"format": "phone_number", "phone_number": "+12065550100"}
        ]}));
        assert_eq!(aliases.format(), "aliases");
    }

    #[test]
    fn ssf_complex_subject_round_trips() {
        let id = round_trip(json!({
            "format": "complex",
            "user": {"format": "iss_sub", "iss": "https://idp.example.com/", "sub": "alice"},
            "device": {"format": "opaque", "id": "dev-1"},
            "session": {"format": "opaque", "id": "s-1"}
        }));
        let SubjectId::Complex(c) = id else {
            panic!("complex")
        };
        assert_eq!(
            c.members().map(|(n, _)| n).collect::<Vec<_>>(),
            ["user", "device", "session"]
        );
    }

    #[test]
    fn negative_table() {
        let bad = [
            json!({"format": "account", "uri": "mailto:x@y"}),
            json!({"format": "email", "email": "nobody"}),
            json!({"format": "iss_sub", "iss": "", "sub": "x"}),
            json!({"format": "opaque", "id": ""}),
            json!({"format": "phone_number", "phone_number": "2065550100"}),
            json!({"format": "phone_number", "phone_number": "+1206555010012345"}),
            json!({"format": "did", "url": "https://x"}),
            json!({"format": "aliases", "identifiers": []}),
            json!({"format": "aliases", "identifiers": [{"format": "aliases", "identifiers": [{"format": "opaque", "id": "x"}]}]}),
            json!({"format": "complex"}),
            json!({"format": "complex", "user": {"format": "complex", "device": {"format": "opaque", "id": "x"}}}),
        ];
        for value in bad {
            let id: SubjectId = serde_json::from_value(value.clone()).unwrap();
            assert!(id.validate().is_err(), "{value}");
        }
        for unparsable in [
            json!({"format": "unknown_format", "x": 1}),
            json!({"email": "user@example.com"}),
            json!({"format": "email"}),
            json!({"format": "iss_sub", "iss": "x"}),
            json!({"format": "email", "email": 5}),
        ] {
            assert!(
                serde_json::from_value::<SubjectId>(unparsable.clone()).is_err(),
                "{unparsable}"
            );
        }
    }
}
