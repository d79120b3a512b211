//! First run: an administrator account, so there is someone to sign in as.

use tessera_store::{NewUser, Store, StoreError, Timestamp};

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
/// When the store fails or the password cannot be hashed.
pub async fn ensure_admin(
    store: &dyn Store,
    password: Option<&str>,
    now: Timestamp,
) -> Result<Bootstrap, String> {
    match store.user_by_username(ADMIN_USERNAME).await {
        Ok(_) => return Ok(Bootstrap::AlreadyDone),
        Err(StoreError::NotFound(_)) => {}
        Err(e) => return Err(e.to_string()),
    }
    let generated = match password {
        Some(_) => None,
        None => Some(zeroize::Zeroizing::new(
            crate::secrets::new_client_secret().map_err(|e| e.to_string())?[..20].to_owned(),
        )),
    };
    let password = password
        .or(generated.as_deref().map(String::as_str))
        .unwrap_or_default();
    if password.chars().count() < 12 {
        return Err("the administrator password must be at least 12 characters".into());
    }
    let hash = crate::secrets::hash_password(password)?;
    let mut uow = store.begin().await.map_err(|e| e.to_string())?;
    uow.insert_user(&NewUser {
        id: ADMIN_USERNAME.into(),
        username: ADMIN_USERNAME.into(),
        email: None,
        display_name: "Administrator".into(),
        password_hash: Some(hash),
        created_at: now,
    })
    .await
    .map_err(|e| e.to_string())?;
    let admins = tessera_store::GroupId(crate::directory::ADMINS_GROUP.into());
    if matches!(store.group(&admins).await, Err(StoreError::NotFound(_))) {
        uow.insert_group(&tessera_store::Group {
            id: admins.clone(),
            name: "Administrators".into(),
            created_at: now,
        })
        .await
        .map_err(|e| e.to_string())?;
    }
    uow.add_member(&admins, &ADMIN_USERNAME.into())
        .await
        .map_err(|e| e.to_string())?;
    uow.commit().await.map_err(|e| e.to_string())?;
    Ok(match generated {
        Some(p) => Bootstrap::CreatedWithPassword(p),
        None => Bootstrap::Created,
    })
}

/// Registers one of Tessera's own browser clients (the console, the account page): public,
/// authorization code only, redirecting to `redirect_path` on this issuer. Rewritten when the
/// issuer, and so the redirect URI, changed.
///
/// # Errors
/// When the store fails.
pub async fn ensure_builtin_client(
    state: &crate::state::AppState,
    id: &str,
    name: &str,
    redirect_path: &str,
    scopes: &[&str],
    access_token_minutes: i64,
) -> Result<(), StoreError> {
    let redirect = state.endpoint(redirect_path);
    match state.store.application(id).await {
        Ok(app) if app.redirect_uris == [redirect.clone()] => return Ok(()),
        Ok(_) | Err(StoreError::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    let now = state.now();
    let app = tessera_store::Application {
        id: id.into(),
        name: name.into(),
        kind: tessera_store::AppKind::Public,
        secret_hash: None,
        redirect_uris: vec![redirect],
        grant_types: vec!["authorization_code".into()],
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        jwks: None,
        access_token_minutes,
        refresh_token_days: 1,
        cae_capable: false,
        require_dpop: false,
        created_at: now,
        changed_at: now,
    };
    let mut uow = state.store.begin().await?;
    uow.put_application(&app).await?;
    uow.commit().await
}
