//! First run: an administrator account, so there is someone to sign in as, and Tessera's own
//! browser clients.

use tessera_store::{NewUser, Store, StoreError, Timestamp};

use crate::{DirectoryError, FieldError};

/// The administrator's sign-in name.
pub const ADMIN_USERNAME: &str = "admin";

/// What the first-run bootstrap did.
#[derive(Debug)]
pub enum Bootstrap {
    /// The administrator already existed; nothing was changed.
    AlreadyDone,
    /// The administrator was created with the password given in the configuration.
    Created,
    /// The administrator was created with this generated password, shown once.
    CreatedWithPassword(zeroize::Zeroizing<String>),
}

/// Creates the administrator account, a member of the `admins` group, unless it exists.
///
/// # Errors
/// [`DirectoryError::Invalid`] for a configured password shorter than 12 characters; the store's
/// and the hasher's errors.
pub async fn ensure_admin(
    store: &dyn Store,
    password: Option<&str>,
    now: Timestamp,
) -> Result<Bootstrap, DirectoryError> {
    match store.user_by_username(ADMIN_USERNAME).await {
        Ok(_) => return Ok(Bootstrap::AlreadyDone),
        Err(StoreError::NotFound(_)) => {}
        Err(e) => return Err(DirectoryError::Store(e)),
    }
    let generated = match password {
        Some(_) => None,
        None => Some(zeroize::Zeroizing::new(
            crate::secrets::new_client_secret()?[..20].to_owned(),
        )),
    };
    let password = password
        .or(generated.as_deref().map(String::as_str))
        .unwrap_or_default();
    if password.chars().count() < 12 {
        return Err(DirectoryError::Invalid(vec![FieldError::new(
            "admin_password",
            "the administrator password must be at least 12 characters",
        )]));
    }
    let hash = crate::secrets::hash_password(password)?;
    let mut uow = store.begin().await?;
    uow.insert_user(&NewUser {
        id: ADMIN_USERNAME.into(),
        username: ADMIN_USERNAME.into(),
        email: None,
        display_name: "Administrator".into(),
        password_hash: Some(hash),
        created_at: now,
    })
    .await?;
    let admins = tessera_store::GroupId(crate::ADMINS_GROUP.into());
    if matches!(store.group(&admins).await, Err(StoreError::NotFound(_))) {
        uow.insert_group(&tessera_store::Group {
            id: admins.clone(),
            name: "Administrators".into(),
            created_at: now,
        })
        .await?;
    }
    uow.add_member(&admins, &ADMIN_USERNAME.into()).await?;
    uow.commit().await?;
    Ok(match generated {
        Some(p) => Bootstrap::CreatedWithPassword(p),
        None => Bootstrap::Created,
    })
}

/// One of Tessera's own browser clients (the console, the account page).
#[derive(Debug, Clone, Copy)]
pub struct BuiltinClient<'a> {
    /// Its client id.
    pub id: &'a str,
    /// Its name on the consent and sign-in pages.
    pub name: &'a str,
    /// Where on the issuer it receives its authorization responses (`/admin/callback`).
    pub redirect_path: &'a str,
    /// The scopes it may ask for.
    pub scopes: &'a [&'a str],
    /// Its access tokens' lifetime.
    pub access_token_minutes: i64,
}

/// Registers one of Tessera's own browser clients at `issuer`: public, authorization code only,
/// redirecting to its path there. Rewritten when the issuer, and so the redirect URI, changed.
///
/// # Errors
/// When the store fails.
pub async fn ensure_builtin_client(
    store: &dyn Store,
    client: &BuiltinClient<'_>,
    issuer: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let redirect_uri = format!("{issuer}{}", client.redirect_path);
    match store.application(client.id).await {
        Ok(app) if app.redirect_uris == std::slice::from_ref(&redirect_uri) => return Ok(()),
        Ok(_) | Err(StoreError::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    let app = tessera_store::Application {
        id: client.id.into(),
        name: client.name.into(),
        kind: tessera_store::AppKind::Public,
        secret_hash: None,
        redirect_uris: vec![redirect_uri],
        grant_types: vec![crate::GrantType::AuthorizationCode.as_str().into()],
        scopes: client.scopes.iter().map(|s| (*s).to_owned()).collect(),
        jwks: None,
        access_token_minutes: client.access_token_minutes,
        refresh_token_days: 1,
        cae_capable: false,
        require_dpop: false,
        require_pushed_authorization_requests: false,
        backchannel_logout_uri: None,
        fapi2: false,
        created_at: now,
        changed_at: now,
    };
    let mut uow = store.begin().await?;
    uow.put_application(&app).await?;
    uow.commit().await
}
