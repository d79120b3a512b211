//! Users and groups. Disabling, deleting, resetting a password and revoking sessions all end the
//! user's sessions at once (their refresh tokens stop working and a "not before" instant makes
//! resource servers refuse earlier access tokens) and raise the matching CAEP/RISC events.

use serde::Deserialize;
use serde_json::{Map, Value};
use tessera_signals::{DirectoryChange, InitiatingEntity};
use tessera_store::{
    Group, GroupId, MfaMethod, NewUser, RiskLevel, SubjectKind, Table, UnitOfWork, User, UserChange, UserId,
    UserStatus,
};
use zeroize::Zeroizing;

use super::{Directory, DirectoryError, FieldError, Result, check_id, check_name, finish};

/// Shortest and longest password accepted (NIST SP 800-63B §5.1.1.2 asks for at least 8).
pub(crate) const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=256;

/// A user to create.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewUser)]
pub struct UserSpec {
    /// The sign-in name.
    #[schema(min_length = 1, max_length = 64)]
    pub username: String,
    /// An email address.
    #[serde(default)]
    pub email: Option<String>,
    /// A name for people [default: the username].
    #[serde(default)]
    pub display_name: Option<String>,
    /// The initial password; without one the user cannot sign in with a password.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 8, max_length = 256)]
    pub password: Option<Zeroizing<String>>,
}

/// A change to a user; absent members stay as they are.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// Enable or disable sign-in.
    #[serde(default)]
    pub status: Option<UserStatus>,
    /// Set the risk level (by an administrator; CA policies read it).
    #[serde(default)]
    pub risk: Option<RiskLevel>,
    /// Rename.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Reset the password.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 8, max_length = 256)]
    pub password: Option<Zeroizing<String>>,
}

fn check_password(field: &str, password: &str, errors: &mut Vec<FieldError>) {
    if !PASSWORD_CHARS.contains(&password.chars().count()) {
        errors.push(FieldError::new(
            field,
            format!(
                "must be {} to {} characters",
                PASSWORD_CHARS.start(),
                PASSWORD_CHARS.end()
            ),
        ));
    }
}

fn hash(password: &str) -> Result<String> {
    Ok(crate::secrets::hash_password(password)?)
}

/// Why `username` could pass for another name, if it could: characters outside the Unicode
/// identifier profile (UTS #39: invisible, deprecated or look-alike-prone characters), or
/// letters of more than one script (a Cyrillic "а" in a Latin name). Names compare by
/// [`tessera_store::username_key`] (case and width folded), so those variants are one account
/// already.
fn look_alike_risk(username: &str) -> Option<&'static str> {
    use unicode_security::{GeneralSecurityProfile as _, MixedScript as _};
    let key = tessera_store::username_key(username);
    if !key
        .chars()
        .all(|c| (c.is_ascii_graphic()) || c.identifier_allowed())
    {
        return Some(
            "contains a character that is not allowed in names (invisible, or easily mistaken for another)",
        );
    }
    if !key.as_str().is_single_script() {
        return Some("mixes letters of several scripts, which can look like another name; use one script");
    }
    None
}

fn signal_risk(r: RiskLevel) -> Option<tessera_signals::events::RiskLevel> {
    use tessera_signals::events::RiskLevel as R;
    match r {
        RiskLevel::None => None,
        RiskLevel::Low => Some(R::Low),
        RiskLevel::Medium => Some(R::Medium),
        RiskLevel::High => Some(R::High),
    }
}

impl Directory {
    /// Creates a user with a new id.
    ///
    /// # Errors
    /// [`DirectoryError::Invalid`] for a bad username, email, name or password;
    /// [`DirectoryError::Conflict`] when the username is taken.
    pub async fn create_user(&self, spec: &UserSpec) -> Result<User> {
        let mut errors = Vec::new();
        let username = spec.username.trim();
        if username.is_empty() || username.chars().count() > 64 {
            errors.push(FieldError::new("username", "must be 1 to 64 characters"));
        } else if username.chars().any(|c| c.is_whitespace() || c.is_control()) {
            errors.push(FieldError::new(
                "username",
                "must not contain spaces or control characters",
            ));
        } else if let Some(problem) = look_alike_risk(username) {
            errors.push(FieldError::new("username", problem));
        }
        if let Some(email) = &spec.email {
            let well_formed = email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.contains('@')
            });
            if !well_formed || email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                errors.push(FieldError::new("email", "is not an email address"));
            }
        }
        if let Some(name) = &spec.display_name {
            check_name("display_name", name, &mut errors);
        }
        if let Some(p) = &spec.password {
            check_password("password", p, &mut errors);
        }
        finish(errors)?;
        let password_hash = spec.password.as_deref().map(|p| hash(p)).transpose()?;
        let id = tessera_jose::random::random_id::<12>(self.rng.as_ref())?;
        let user = NewUser {
            id: UserId(format!("u-{id}")),
            username: username.to_owned(),
            email: spec.email.clone(),
            display_name: spec.display_name.clone().unwrap_or_else(|| username.to_owned()),
            password_hash,
            created_at: self.now,
        };
        let mut uow = self.store.begin().await?;
        match uow.insert_user(&user).await {
            Err(tessera_store::StoreError::Conflict(_)) => {
                return Err(DirectoryError::Conflict(format!(
                    "the username {username} is taken"
                )));
            }
            other => other?,
        }
        uow.commit().await?;
        Ok(self.store.user(&user.id).await?)
    }

    /// Changes a user. Disabling, or resetting the password, ends every session of the user.
    ///
    /// # Errors
    /// [`DirectoryError::Invalid`], [`DirectoryError::NotFound`].
    pub async fn update_user(&self, id: &UserId, patch: &UserPatch) -> Result<User> {
        let mut errors = Vec::new();
        if let Some(name) = &patch.display_name {
            check_name("display_name", name, &mut errors);
        }
        if let Some(p) = &patch.password {
            check_password("password", p, &mut errors);
        }
        finish(errors)?;
        let before = self.store.user(id).await?;
        let change = UserChange {
            status: patch.status,
            risk: patch.risk,
            password_hash: patch.password.as_deref().map(|p| hash(p).map(Some)).transpose()?,
            display_name: patch.display_name.clone(),
        };
        let mut uow = self.store.begin().await?;
        let after = uow.update_user(id, &change, self.now).await?;
        let mut end_sessions = false;
        if before.status != after.status {
            let change = match after.status {
                UserStatus::Disabled => DirectoryChange::UserDisabled { hijacked: false },
                UserStatus::Enabled => DirectoryChange::UserEnabled,
            };
            end_sessions |= after.status == UserStatus::Disabled;
            self.emit(uow.as_mut(), id, &change).await?;
        }
        if before.risk != after.risk {
            let change = DirectoryChange::RiskChanged {
                from: signal_risk(before.risk),
                to: signal_risk(after.risk),
            };
            self.emit(uow.as_mut(), id, &change).await?;
        }
        if patch.password.is_some() {
            end_sessions = true;
            let change = DirectoryChange::PasswordChanged { reset_by_admin: true };
            self.emit(uow.as_mut(), id, &change).await?;
        }
        if end_sessions {
            self.end_sessions(uow.as_mut(), id, "user changed by an administrator")
                .await?;
        }
        uow.commit().await?;
        Ok(after)
    }

    /// Deletes a user, with their memberships, sessions and devices.
    ///
    /// # Errors
    /// [`DirectoryError::NotFound`].
    pub async fn delete_user(&self, id: &UserId) -> Result<()> {
        self.store.user(id).await?;
        let mut uow = self.store.begin().await?;
        self.emit(uow.as_mut(), id, &DirectoryChange::UserDeleted).await?;
        // Ended before they go, so that the applications that take back-channel logout tokens
        // hear of it.
        self.end_sessions(uow.as_mut(), id, "the user was deleted")
            .await?;
        uow.delete_user(id).await?;
        uow.commit().await?;
        Ok(())
    }

    /// Ends every session of a user: refresh tokens stop working, and access tokens issued until
    /// now are refused by Tessera and by every API that hears the `session-revoked` event.
    /// Returns how many refresh-token families were live.
    ///
    /// # Errors
    /// [`DirectoryError::NotFound`].
    pub async fn revoke_sessions(&self, id: &UserId) -> Result<u64> {
        self.store.user(id).await?;
        let mut uow = self.store.begin().await?;
        let reason = match self.by {
            InitiatingEntity::Admin => "revoked by an administrator",
            InitiatingEntity::User => "revoked by the user",
            InitiatingEntity::Policy => "revoked by a policy",
            InitiatingEntity::System => "revoked on a signal",
        };
        let revoked = self.end_sessions(uow.as_mut(), id, reason).await?;
        self.emit(uow.as_mut(), id, &DirectoryChange::SessionsRevoked)
            .await?;
        uow.commit().await?;
        Ok(revoked)
    }

    /// `user` signs out of browser session `browser_sid`: it ends, with every session an
    /// application started from it and `also` (a session of the user's that the application
    /// signing them out named). Each session that was live is announced with `session-revoked`
    /// about it, and to its application by back-channel logout where it takes them.
    ///
    /// # Errors
    /// From the store.
    pub async fn sign_out(
        &self,
        user: &UserId,
        browser_sid: &str,
        also: Option<&tessera_store::SessionId>,
    ) -> Result<()> {
        let mut uow = self.store.begin().await?;
        let mut ended = Vec::new();
        if let Some(sid) = also {
            let family = tessera_store::FamilyId(sid.0.clone());
            if uow.revoke_family(&family, "signed out", self.now).await? {
                ended.push(sid.clone());
            }
            uow.set_not_before(SubjectKind::Session, &sid.0, self.now).await?;
        }
        ended.extend(
            uow.end_browser_session(browser_sid, "signed out", self.now)
                .await?,
        );
        ended.sort_by(|a, b| a.0.cmp(&b.0));
        ended.dedup();
        for sid in &ended {
            let subject = self.session_subject(user, sid);
            self.emit_about(uow.as_mut(), &subject, &DirectoryChange::SessionsRevoked)
                .await?;
        }
        uow.commit().await?;
        Ok(())
    }

    async fn end_sessions(&self, uow: &mut dyn UnitOfWork, id: &UserId, reason: &str) -> Result<u64> {
        uow.set_not_before(SubjectKind::User, &id.0, self.now).await?;
        Ok(uow.revoke_user_sessions(id, reason, self.now).await?)
    }

    /// Creates a group.
    ///
    /// # Errors
    /// [`DirectoryError::Invalid`]; [`DirectoryError::Conflict`] when the id is taken.
    pub async fn create_group(&self, id: &str, name: &str) -> Result<Group> {
        let mut errors = Vec::new();
        check_id("id", id, &mut errors);
        check_name("name", name, &mut errors);
        finish(errors)?;
        let group = Group {
            id: GroupId(id.to_owned()),
            name: name.trim().to_owned(),
            created_at: self.now,
        };
        let mut uow = self.store.begin().await?;
        match uow.insert_group(&group).await {
            Err(tessera_store::StoreError::Conflict(_)) => {
                return Err(DirectoryError::Conflict(format!(
                    "a group with id {id} exists already"
                )));
            }
            other => other?,
        }
        uow.commit().await?;
        Ok(group)
    }

    /// Deletes a group. Its members' `groups` claim changes, so each gets a
    /// `token-claims-change` event.
    ///
    /// # Errors
    /// [`DirectoryError::NotFound`].
    pub async fn delete_group(&self, id: &GroupId) -> Result<()> {
        self.store.group(id).await?;
        let members = self.store.members_of(id).await?;
        let mut uow = self.store.begin().await?;
        for member in &members {
            let groups = self.groups_after(member, id, false).await?;
            self.emit(uow.as_mut(), member, &claims_change(groups)).await?;
        }
        uow.delete(Table::Groups, &id.0).await?;
        uow.commit().await?;
        Ok(())
    }

    /// Adds (`member = true`) or removes a user from a group. Returns whether anything changed;
    /// a change raises `token-claims-change` with the user's groups.
    ///
    /// # Errors
    /// [`DirectoryError::NotFound`] for an unknown group or user.
    pub async fn set_membership(&self, group: &GroupId, user: &UserId, member: bool) -> Result<bool> {
        self.store.group(group).await?;
        self.store.user(user).await?;
        let groups = self.groups_after(user, group, member).await?;
        let mut uow = self.store.begin().await?;
        let changed = if member {
            uow.add_member(group, user).await?
        } else {
            uow.remove_member(group, user).await?
        };
        if changed {
            self.emit(uow.as_mut(), user, &claims_change(groups)).await?;
        }
        uow.commit().await?;
        Ok(changed)
    }

    /// The user's group ids once `group` is added or removed.
    async fn groups_after(&self, user: &UserId, group: &GroupId, member: bool) -> Result<Vec<String>> {
        let mut groups: Vec<String> = self
            .store
            .groups_of(user)
            .await?
            .into_iter()
            .map(|g| g.0)
            .filter(|g| *g != group.0)
            .collect();
        if member {
            groups.push(group.0.clone());
            groups.sort();
        }
        Ok(groups)
    }
}

fn claims_change(groups: Vec<String>) -> DirectoryChange {
    let mut claims = Map::new();
    claims.insert("groups".into(), Value::from(groups));
    DirectoryChange::ClaimsChanged(claims)
}

/// A TOTP method just made: the record, and what the user's authenticator app needs (shown once).
#[derive(Debug)]
pub struct NewTotp {
    /// The method's record.
    pub method: MfaMethod,
    /// The shared secret, base32 (RFC 4648), as authenticator apps take it.
    pub secret: Zeroizing<String>,
    /// An `otpauth://` URI for a QR code.
    pub uri: Zeroizing<String>,
}

/// The `otpauth://` URI an authenticator app reads (from a QR code or pasted): issuer's host,
/// account name, the base32 secret, SHA-1, 6 digits, 30 s.
#[must_use]
pub fn totp_uri(issuer: &str, username: &str, secret: &str) -> String {
    let host = url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "Tessera".into());
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "otpauth://totp/{}:{}?secret={secret}&issuer={}&algorithm=SHA1&digits=6&period=30",
        enc(&host),
        enc(username),
        enc(&host)
    )
}

impl Directory {
    /// Gives a user a TOTP method (RFC 6238: SHA-1, 6 digits, 30 s) with a new 160-bit secret.
    /// Raises `credential-change` (create).
    ///
    /// # Errors
    /// [`DirectoryError::Invalid`] for a bad label, [`DirectoryError::NotFound`].
    pub async fn add_totp(&self, user: &UserId, label: &str) -> Result<NewTotp> {
        let mut errors = Vec::new();
        check_name("label", label, &mut errors);
        finish(errors)?;
        let account = self.store.user(user).await?;
        let mut raw = [0u8; 20];
        self.rng.fill(&mut raw)?;
        let secret = Zeroizing::new(data_encoding::BASE32_NOPAD.encode(&raw));
        let method = self
            .add_mfa_method(user, tessera_store::MfaKind::Totp, label, &secret)
            .await?;
        let uri = Zeroizing::new(totp_uri(&self.issuer, &account.username, &secret));
        Ok(NewTotp { method, secret, uri })
    }

    /// Gives a user an MFA method whose secret is already made: a TOTP seed the user has
    /// confirmed with a code, or a verified passkey (its `webauthn-rs` JSON). Raises
    /// `credential-change` (create).
    ///
    /// # Errors
    /// [`DirectoryError::Invalid`] for a bad label, [`DirectoryError::NotFound`].
    pub async fn add_mfa_method(
        &self,
        user: &UserId,
        kind: tessera_store::MfaKind,
        label: &str,
        secret: &str,
    ) -> Result<MfaMethod> {
        let mut errors = Vec::new();
        check_name("label", label, &mut errors);
        finish(errors)?;
        self.store.user(user).await?;
        let id = format!(
            "{}-{}",
            kind.as_str(),
            tessera_jose::random::random_id::<9>(self.rng.as_ref())?
        );
        let method = MfaMethod {
            id,
            user_id: user.clone(),
            kind,
            label: label.trim().to_owned(),
            secret: tessera_store::Secret::new(secret.to_owned()),
            created_at: self.now,
            last_used_at: None,
        };
        let mut uow = self.store.begin().await?;
        uow.add_mfa_method(&method).await?;
        let change = DirectoryChange::MfaAdded {
            kind: match kind {
                tessera_store::MfaKind::Totp => tessera_signals::MfaKind::Totp,
                tessera_store::MfaKind::Passkey => tessera_signals::MfaKind::Passkey,
            },
        };
        self.emit(uow.as_mut(), user, &change).await?;
        uow.commit().await?;
        Ok(method)
    }

    /// Removes one of a user's MFA methods. Raises `credential-change` (delete).
    ///
    /// # Errors
    /// [`DirectoryError::NotFound`] when the user has no such method.
    pub async fn remove_mfa_method(&self, user: &UserId, method: &str) -> Result<()> {
        let methods = self.store.mfa_methods_of(user).await?;
        let Some(found) = methods.iter().find(|m| m.id == method) else {
            return Err(DirectoryError::NotFound("MFA method"));
        };
        let kind = match found.kind {
            tessera_store::MfaKind::Totp => tessera_signals::MfaKind::Totp,
            tessera_store::MfaKind::Passkey => tessera_signals::MfaKind::Passkey,
        };
        let mut uow = self.store.begin().await?;
        uow.delete(Table::MfaMethods, method).await?;
        self.emit(uow.as_mut(), user, &DirectoryChange::MfaRemoved { kind })
            .await?;
        uow.commit().await?;
        Ok(())
    }

    /// Raises the user's risk to `level` if it is lower (never lowers it), with the
    /// `risk-level-change` event that goes with it. Returns whether it rose; a user deleted
    /// meanwhile has nothing to raise.
    ///
    /// # Errors
    /// As [`Directory::update_user`].
    pub async fn raise_risk(&self, user: &UserId, level: RiskLevel) -> Result<bool> {
        let rank = |l: RiskLevel| match l {
            RiskLevel::None => 0,
            RiskLevel::Low => 1,
            RiskLevel::Medium => 2,
            RiskLevel::High => 3,
        };
        let current = match self.store.user(user).await {
            Ok(u) => u.risk,
            Err(tessera_store::StoreError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        if rank(level) <= rank(current) {
            return Ok(false);
        }
        let patch = UserPatch {
            risk: Some(level),
            ..UserPatch::default()
        };
        self.update_user(user, &patch).await?;
        Ok(true)
    }
}

impl Directory {
    /// A refresh token bound to a key held in software (no registered device) came without a
    /// proof by that key: someone copied it, perhaps with the key. Revokes its family and everything issued in that session, raises the user's risk to
    /// high, and raises `session-revoked` and `risk-level-change` as the policy's doing — once:
    /// a family already revoked changes nothing.
    ///
    /// # Errors
    /// From the store.
    pub async fn token_replay(&self, family: &tessera_store::Family) -> Result<()> {
        let user = &family.user_id;
        let mut uow = self.store.begin().await?;
        if !uow.revoke_family(&family.id, "token replay", self.now).await? {
            // Revoked already (by an earlier replay, say): said once is enough.
            return Ok(());
        }
        uow.set_not_before(SubjectKind::Session, &family.session_id.0, self.now)
            .await?;
        let change = UserChange {
            risk: Some(RiskLevel::High),
            ..UserChange::default()
        };
        match uow.update_user(user, &change, self.now).await {
            // The user was deleted meanwhile: nothing left to raise.
            Err(tessera_store::StoreError::NotFound(_)) => return Ok(()),
            other => other?,
        };
        self.emit(uow.as_mut(), user, &DirectoryChange::TokenReplay)
            .await?;
        uow.commit().await?;
        Ok(())
    }

    /// A rotated refresh token of `family` was presented again (the store has revoked the
    /// family): whoever holds the other copy stole it. Ends the session everywhere (its "not
    /// before" instant refuses the access tokens already issued in it, at Tessera and, through
    /// `session-revoked` about the session, at every subscribed API) and raises the user's risk to high, with a
    /// `risk-level-change` when that is a rise. Once per family: a later presentation of
    /// another old token finds the session ended already and changes nothing.
    ///
    /// # Errors
    /// From the store.
    pub async fn refresh_token_reuse(&self, family: &tessera_store::Family) -> Result<()> {
        let user = &family.user_id;
        let revoked_at = family.revoked_at.unwrap_or(self.now);
        if self
            .store
            .not_before(SubjectKind::Session, &family.session_id.0)
            .await?
            .is_some_and(|nb| nb.0 >= revoked_at.0)
        {
            return Ok(());
        }
        let previous = match self.store.user(user).await {
            Ok(u) => u.risk,
            Err(tessera_store::StoreError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let mut uow = self.store.begin().await?;
        uow.set_not_before(SubjectKind::Session, &family.session_id.0, self.now)
            .await?;
        // About the session: the user's other sessions are not the stolen one.
        let session = self.session_subject(user, &family.session_id);
        self.emit_about(uow.as_mut(), &session, &DirectoryChange::SessionsRevoked)
            .await?;
        if previous != RiskLevel::High {
            let change = UserChange {
                risk: Some(RiskLevel::High),
                ..UserChange::default()
            };
            match uow.update_user(user, &change, self.now).await {
                Err(tessera_store::StoreError::NotFound(_)) => return Ok(()),
                other => other?,
            };
            self.emit(
                uow.as_mut(),
                user,
                &DirectoryChange::RiskChanged {
                    from: signal_risk(previous),
                    to: signal_risk(RiskLevel::High),
                },
            )
            .await?;
        }
        uow.commit().await?;
        Ok(())
    }
}
