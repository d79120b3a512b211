//! The directory repositories' SQL, written once for both backends (see `shared.rs` for the
//! placeholder convention). Lists are JSON arrays in text columns; booleans are 0/1 integers,
//! which both databases store the same way.

/// Implements the directory traits and the unit-of-work helpers for one backend.
macro_rules! directory_impl {
    ($store:ty, $uow:ident, $db:ty) => {
        mod directory {
            use async_trait::async_trait;
            use sqlx::Row as _;

            use super::{$store as Backend, $uow as Uow};
            use crate::directory_repo::*;
            use crate::directory_types::*;
            use crate::error::Context as _;
            use crate::shared_directory::Table;
            use crate::types::*;
            use crate::columns::Columns;
            use crate::{Result, StoreError};

            type Row = <$db as sqlx::Database>::Row;

            fn text(row: &Row, col: &str) -> Result<String> {
                Columns::text(row, "record", col)
            }
            fn opt_text(row: &Row, col: &str) -> Result<Option<String>> {
                Columns::opt_text(row, "record", col)
            }
            fn int(row: &Row, col: &str) -> Result<i64> {
                Columns::int(row, "record", col)
            }
            fn opt_int(row: &Row, col: &str) -> Result<Option<i64>> {
                Columns::opt_int(row, "record", col)
            }
            fn json(row: &Row, col: &str) -> Result<serde_json::Value> {
                serde_json::from_str(&text(row, col)?)
                    .map_err(|e| StoreError::Corrupt(format!("column {col} holds invalid JSON: {e}")))
            }
            fn list(row: &Row, col: &str) -> Result<Vec<String>> {
                serde_json::from_str(&text(row, col)?)
                    .map_err(|e| StoreError::Corrupt(format!("column {col} holds an invalid list: {e}")))
            }
            fn to_list(v: &[String]) -> String {
                serde_json::Value::from(v.to_vec()).to_string()
            }

            const APP: &str = "id, name, kind, secret_hash, redirect_uris, grant_types, scopes, jwks, access_token_minutes, \
                 refresh_token_days, cae_capable, require_dpop, require_pushed_authorization_requests, backchannel_logout_uri, fapi2, created_at, changed_at";
            fn app(row: &Row) -> Result<Application> {
                Ok(Application {
                    id: text(row, "id")?,
                    name: text(row, "name")?,
                    kind: AppKind::parse(&text(row, "kind")?)?,
                    secret_hash: opt_text(row, "secret_hash")?.map(Secret::new),
                    redirect_uris: list(row, "redirect_uris")?,
                    grant_types: list(row, "grant_types")?,
                    scopes: list(row, "scopes")?,
                    jwks: opt_text(row, "jwks")?
                        .map(|t| serde_json::from_str(&t))
                        .transpose()
                        .map_err(|e| StoreError::Corrupt(format!("client jwks is invalid JSON: {e}")))?,
                    access_token_minutes: int(row, "access_token_minutes")?,
                    refresh_token_days: int(row, "refresh_token_days")?,
                    cae_capable: int(row, "cae_capable")? != 0,
                    require_dpop: int(row, "require_dpop")? != 0,
                    require_pushed_authorization_requests: int(row, "require_pushed_authorization_requests")? != 0,
                    backchannel_logout_uri: opt_text(row, "backchannel_logout_uri")?,
                    fapi2: int(row, "fapi2")? != 0,
                    created_at: Timestamp(int(row, "created_at")?),
                    changed_at: Timestamp(int(row, "changed_at")?),
                })
            }

            const DEVICE: &str = crate::shared::DEVICE_COLUMNS;
            fn device(row: &Row) -> Result<Device> {
                crate::shared::device_from_columns(row, "")
            }

            fn mfa(row: &Row) -> Result<MfaMethod> {
                Ok(MfaMethod {
                    id: text(row, "id")?,
                    user_id: UserId(text(row, "user_id")?),
                    kind: MfaKind::parse(&text(row, "kind")?)?,
                    label: text(row, "label")?,
                    secret: Secret::new(text(row, "secret")?),
                    created_at: Timestamp(int(row, "created_at")?),
                    last_used_at: opt_int(row, "last_used_at")?.map(Timestamp),
                })
            }

            fn key(row: &Row) -> Result<SigningKeyRecord> {
                Ok(SigningKeyRecord {
                    kid: text(row, "kid")?,
                    alg: text(row, "alg")?,
                    private_jwk: Secret::new(text(row, "private_jwk")?),
                    public_jwk: json(row, "public_jwk")?,
                    status: KeyStatus::parse(&text(row, "status")?)?,
                    created_at: Timestamp(int(row, "created_at")?),
                    changed_at: Timestamp(int(row, "changed_at")?),
                })
            }

            const LOG: &str = "id, at, user_id, client_id, ip, outcome, token_protection, device_id, jkt, error, details";
            fn log(row: &Row) -> Result<SignInLog> {
                Ok(SignInLog {
                    id: text(row, "id")?,
                    at: Timestamp(int(row, "at")?),
                    user_id: opt_text(row, "user_id")?.map(UserId),
                    client_id: opt_text(row, "client_id")?,
                    ip: text(row, "ip")?,
                    outcome: text(row, "outcome")?,
                    token_protection: text(row, "token_protection")?,
                    device_id: opt_text(row, "device_id")?,
                    jkt: opt_text(row, "jkt")?,
                    error: opt_text(row, "error")?,
                    details: SignInDetails::from_text(text(row, "details")?).map_err(|e| {
                        StoreError::Corrupt(format!("column details holds invalid JSON: {e}"))
                    })?,
                })
            }

            fn policy(row: &Row) -> Result<PolicyRecord> {
                Ok(PolicyRecord {
                    id: text(row, "id")?,
                    state: text(row, "state")?,
                    document: json(row, "document")?,
                    changed_at: Timestamp(int(row, "changed_at")?),
                })
            }

            const STREAM: &str =
                "id, receiver, status, status_reason, config, created_at, changed_at, last_verification_at";
            fn stream(row: &Row) -> Result<StreamRecord> {
                Ok(StreamRecord {
                    id: StreamId(text(row, "id")?),
                    receiver: text(row, "receiver")?,
                    status: StreamStatus::parse(&text(row, "status")?)?,
                    status_reason: opt_text(row, "status_reason")?,
                    config: json(row, "config")?,
                    created_at: Timestamp(int(row, "created_at")?),
                    changed_at: Timestamp(int(row, "changed_at")?),
                    last_verification_at: opt_int(row, "last_verification_at")?.map(Timestamp),
                })
            }

            #[async_trait]
            impl ClientRepo for Backend {
                async fn application(&self, id: &str) -> Result<Application> {
                    let sql = format!("SELECT {APP} FROM applications WHERE id = $1");
                    app(&sqlx::query(&sql).bind(id).fetch_one(&self.read).await.ctx("application")?)
                }

                async fn applications(&self) -> Result<Vec<Application>> {
                    let sql = format!("SELECT {APP} FROM applications ORDER BY id");
                    sqlx::query(&sql).fetch_all(&self.read).await.ctx("application")?.iter().map(app).collect()
                }

                async fn client_registration(&self, client_id: &str) -> Result<ClientRegistration> {
                    let row = sqlx::query(
                        "SELECT client_id, token_hash, metadata, created_at FROM client_registrations WHERE client_id = $1",
                    )
                    .bind(client_id)
                    .fetch_one(&self.read)
                    .await
                    .ctx("client registration")?;
                    Ok(ClientRegistration {
                        client_id: text(&row, "client_id")?,
                        token_hash: row.try_get("token_hash").ctx("client registration")?,
                        metadata: json(&row, "metadata")?,
                        created_at: Timestamp(int(&row, "created_at")?),
                    })
                }
            }

            #[async_trait]
            impl DeviceRepo for Backend {
                async fn device(&self, id: &str) -> Result<Device> {
                    let sql = format!("SELECT {DEVICE} FROM devices WHERE id = $1");
                    device(&sqlx::query(&sql).bind(id).fetch_one(&self.read).await.ctx("device")?)
                }

                async fn device_by_jkt(&self, jkt: &str) -> Result<Device> {
                    let sql = format!("SELECT {DEVICE} FROM devices WHERE jkt = $1");
                    device(&sqlx::query(&sql).bind(jkt).fetch_one(&self.read).await.ctx("device")?)
                }

                async fn devices(&self, after: Option<&str>, limit: u32) -> Result<Vec<Device>> {
                    let sql = format!("SELECT {DEVICE} FROM devices WHERE id > $1 ORDER BY id LIMIT $2");
                    sqlx::query(&sql)
                        .bind(after.unwrap_or(""))
                        .bind(i64::from(limit))
                        .fetch_all(&self.read)
                        .await
                        .ctx("device")?
                        .iter()
                        .map(device)
                        .collect()
                }

                async fn devices_of(&self, user: &UserId) -> Result<Vec<Device>> {
                    let sql = format!("SELECT {DEVICE} FROM devices WHERE user_id = $1 ORDER BY id");
                    sqlx::query(&sql).bind(&user.0).fetch_all(&self.read).await.ctx("device")?.iter().map(device).collect()
                }

                async fn touch_device(&self, id: &str, now: Timestamp) -> Result<()> {
                    let done = sqlx::query("UPDATE devices SET last_seen_at = $1 WHERE id = $2")
                        .bind(now.0)
                        .bind(id)
                        .execute(&self.write)
                        .await
                        .ctx("device")?;
                    if done.rows_affected() == 0 { Err(StoreError::NotFound("device")) } else { Ok(()) }
                }
            }

            #[async_trait]
            impl CredentialRepo for Backend {
                async fn mfa_methods_of(&self, user: &UserId) -> Result<Vec<MfaMethod>> {
                    sqlx::query(
                        "SELECT id, user_id, kind, label, secret, created_at, last_used_at FROM mfa_methods \
                         WHERE user_id = $1 ORDER BY id",
                    )
                    .bind(&user.0)
                    .fetch_all(&self.read)
                    .await
                    .ctx("MFA method")?
                    .iter()
                    .map(mfa)
                    .collect()
                }

                async fn use_totp_step(&self, method: &str, step: i64, now: Timestamp) -> Result<bool> {
                    let done = sqlx::query(
                        "UPDATE mfa_methods SET last_used_step = $1, last_used_at = $2 \
                         WHERE id = $3 AND kind = 'totp' AND last_used_step < $1",
                    )
                    .bind(step)
                    .bind(now.0)
                    .bind(method)
                    .execute(&self.write)
                    .await
                    .ctx("MFA method")?;
                    Ok(done.rows_affected() == 1)
                }

                async fn use_passkey(&self, method: &str, secret: Option<&str>, now: Timestamp) -> Result<()> {
                    let done = sqlx::query(
                        "UPDATE mfa_methods SET secret = COALESCE($1, secret), last_used_at = $2 \
                         WHERE id = $3 AND kind = 'passkey'",
                    )
                    .bind(secret)
                    .bind(now.0)
                    .bind(method)
                    .execute(&self.write)
                    .await
                    .ctx("MFA method")?;
                    if done.rows_affected() == 0 { Err(StoreError::NotFound("MFA method")) } else { Ok(()) }
                }
            }

            #[async_trait]
            impl PolicyRepo for Backend {
                async fn policies(&self) -> Result<Vec<PolicyRecord>> {
                    let rows = sqlx::query("SELECT id, state, document, changed_at FROM policies ORDER BY id")
                        .fetch_all(&self.read)
                        .await
                        .ctx("policy")?;
                    rows.iter().map(policy).collect()
                }

                async fn policy(&self, id: &str) -> Result<PolicyRecord> {
                    let r = sqlx::query("SELECT id, state, document, changed_at FROM policies WHERE id = $1")
                        .bind(id)
                        .fetch_one(&self.read)
                        .await
                        .ctx("policy")?;
                    policy(&r)
                }

                async fn named_locations(&self) -> Result<Vec<NamedLocationRecord>> {
                    let rows = sqlx::query(
                        "SELECT id, display_name, ip_ranges, trusted, changed_at FROM named_locations ORDER BY id",
                    )
                    .fetch_all(&self.read)
                    .await
                    .ctx("named location")?;
                    rows.iter()
                        .map(|r| {
                            Ok(NamedLocationRecord {
                                id: text(r, "id")?,
                                display_name: text(r, "display_name")?,
                                ip_ranges: list(r, "ip_ranges")?,
                                trusted: int(r, "trusted")? != 0,
                                changed_at: Timestamp(int(r, "changed_at")?),
                            })
                        })
                        .collect()
                }
            }

            #[async_trait]
            impl KeyRepo for Backend {
                async fn insert_key(&self, k: &SigningKeyRecord) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO signing_keys (kid, alg, private_jwk, public_jwk, status, created_at, changed_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&k.kid)
                    .bind(&k.alg)
                    .bind(k.private_jwk.expose())
                    .bind(k.public_jwk.to_string())
                    .bind(k.status.as_str())
                    .bind(k.created_at.0)
                    .bind(k.changed_at.0)
                    .execute(&self.write)
                    .await
                    .ctx("signing key")?;
                    Ok(())
                }

                async fn reseal_key(&self, kid: &str, private_jwk: &Secret) -> Result<()> {
                    let done = sqlx::query("UPDATE signing_keys SET private_jwk = $2 WHERE kid = $1")
                        .bind(kid)
                        .bind(private_jwk.expose())
                        .execute(&self.write)
                        .await
                        .ctx("signing key")?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound("signing key"));
                    }
                    Ok(())
                }

                async fn keys(&self) -> Result<Vec<SigningKeyRecord>> {
                    sqlx::query(
                        "SELECT kid, alg, private_jwk, public_jwk, status, created_at, changed_at FROM signing_keys \
                         ORDER BY created_at, kid",
                    )
                    .fetch_all(&self.read)
                    .await
                    .ctx("signing key")?
                    .iter()
                    .map(key)
                    .collect()
                }

                async fn promote_next_key(&self, now: Timestamp) -> Result<Option<String>> {
                    let mut tx = self.write.begin().await.ctx("signing key")?;
                    let next: Option<String> = sqlx::query_scalar(
                        "SELECT kid FROM signing_keys WHERE status = 'next' ORDER BY created_at, kid LIMIT 1",
                    )
                    .fetch_optional(&mut *tx)
                    .await
                    .ctx("signing key")?;
                    let Some(next) = next else { return Ok(None) };
                    sqlx::query("UPDATE signing_keys SET status = 'retired', changed_at = $1 WHERE status = 'active'")
                        .bind(now.0)
                        .execute(&mut *tx)
                        .await
                        .ctx("signing key")?;
                    sqlx::query("UPDATE signing_keys SET status = 'active', changed_at = $1 WHERE kid = $2")
                        .bind(now.0)
                        .bind(&next)
                        .execute(&mut *tx)
                        .await
                        .ctx("signing key")?;
                    tx.commit().await.ctx("signing key")?;
                    Ok(Some(next))
                }

                async fn delete_retired_keys(&self, cutoff: Timestamp) -> Result<u64> {
                    let done = sqlx::query("DELETE FROM signing_keys WHERE status = 'retired' AND changed_at < $1")
                        .bind(cutoff.0)
                        .execute(&self.write)
                        .await
                        .ctx("signing key")?;
                    Ok(done.rows_affected())
                }

                async fn server_secret(&self, name: &str, candidate: &Secret, now: Timestamp) -> Result<Secret> {
                    sqlx::query(
                        "INSERT INTO server_secrets (name, secret, created_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (name) DO NOTHING",
                    )
                    .bind(name)
                    .bind(candidate.expose())
                    .bind(now.0)
                    .execute(&self.write)
                    .await
                    .ctx("server secret")?;
                    let row = sqlx::query("SELECT secret FROM server_secrets WHERE name = $1")
                        .bind(name)
                        .fetch_one(&self.write)
                        .await
                        .ctx("server secret")?;
                    Ok(Secret::new(row.try_get::<String, _>(0).ctx("server secret")?))
                }
            }

            #[async_trait]
            impl CodeRepo for Backend {
                async fn insert_code(&self, c: &NewCode) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO authorization_codes (code_hash, client_id, user_id, grant_data, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&c.hash)
                    .bind(&c.client_id)
                    .bind(&c.user_id.0)
                    .bind(c.grant.to_string())
                    .bind(c.created_at.0)
                    .bind(c.expires_at.0)
                    .execute(&self.write)
                    .await
                    .ctx("authorization code")?;
                    Ok(())
                }

                async fn redeem_code(&self, hash: &[u8], now: Timestamp) -> Result<Redemption> {
                    let redeemed = sqlx::query(
                        "UPDATE authorization_codes SET consumed_at = $1 WHERE code_hash = $2 \
                         AND consumed_at IS NULL AND expires_at >= $1 RETURNING client_id, user_id, grant_data",
                    )
                    .bind(now.0)
                    .bind(hash)
                    .fetch_optional(&self.write)
                    .await
                    .ctx("authorization code")?;
                    if let Some(r) = redeemed {
                        return Ok(Redemption::Redeemed {
                            client_id: text(&r, "client_id")?,
                            user_id: UserId(text(&r, "user_id")?),
                            grant: json(&r, "grant_data")?,
                        });
                    }
                    let found = sqlx::query("SELECT consumed_at, session_id FROM authorization_codes WHERE code_hash = $1")
                        .bind(hash)
                        .fetch_optional(&self.write)
                        .await
                        .ctx("authorization code")?;
                    Ok(match found {
                        None => Redemption::Unknown,
                        Some(r) if opt_int(&r, "consumed_at")?.is_some() => {
                            Redemption::Reused { session_id: opt_text(&r, "session_id")?.map(SessionId) }
                        }
                        Some(_) => Redemption::Expired,
                    })
                }

                async fn attach_session(&self, hash: &[u8], session: &SessionId) -> Result<()> {
                    let done = sqlx::query("UPDATE authorization_codes SET session_id = $1 WHERE code_hash = $2")
                        .bind(&session.0)
                        .bind(hash)
                        .execute(&self.write)
                        .await
                        .ctx("authorization code")?;
                    if done.rows_affected() == 0 { Err(StoreError::NotFound("authorization code")) } else { Ok(()) }
                }

                async fn prune_codes(&self, before: Timestamp) -> Result<u64> {
                    let done = sqlx::query("DELETE FROM authorization_codes WHERE expires_at < $1")
                        .bind(before.0)
                        .execute(&self.write)
                        .await
                        .ctx("authorization code")?;
                    Ok(done.rows_affected())
                }
            }

            #[async_trait]
            impl PushedRequestRepo for Backend {
                async fn insert_pushed_request(&self, r: &NewPushedRequest) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO pushed_requests (request_hash, client_id, params, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&r.hash)
                    .bind(&r.client_id)
                    .bind(r.params.to_string())
                    .bind(r.created_at.0)
                    .bind(r.expires_at.0)
                    .execute(&self.write)
                    .await
                    .ctx("pushed request")?;
                    Ok(())
                }

                async fn open_pushed_request(
                    &self,
                    hash: &[u8],
                    now: Timestamp,
                    open_until: Timestamp,
                ) -> Result<PushedLookup> {
                    // The right-hand sides read the row as it was: only the first opening
                    // extends the lifetime.
                    let open = sqlx::query(
                        "UPDATE pushed_requests SET \
                         expires_at = CASE WHEN opened_at IS NULL THEN $2 ELSE expires_at END, \
                         opened_at = COALESCE(opened_at, $1) \
                         WHERE request_hash = $3 AND used_at IS NULL AND expires_at >= $1 \
                         RETURNING client_id, params, created_at",
                    )
                    .bind(now.0)
                    .bind(open_until.0)
                    .bind(hash)
                    .fetch_optional(&self.write)
                    .await
                    .ctx("pushed request")?;
                    if let Some(r) = open {
                        return Ok(PushedLookup::Open {
                            client_id: text(&r, "client_id")?,
                            params: json(&r, "params")?,
                            created_at: Timestamp(int(&r, "created_at")?),
                        });
                    }
                    let found = sqlx::query("SELECT used_at FROM pushed_requests WHERE request_hash = $1")
                        .bind(hash)
                        .fetch_optional(&self.write)
                        .await
                        .ctx("pushed request")?;
                    Ok(match found {
                        None => PushedLookup::Unknown,
                        Some(r) if opt_int(&r, "used_at")?.is_some() => PushedLookup::Used,
                        Some(_) => PushedLookup::Expired,
                    })
                }

                async fn use_pushed_request(&self, hash: &[u8], now: Timestamp) -> Result<bool> {
                    let done = sqlx::query(
                        "UPDATE pushed_requests SET used_at = $1 \
                         WHERE request_hash = $2 AND used_at IS NULL AND expires_at >= $1",
                    )
                    .bind(now.0)
                    .bind(hash)
                    .execute(&self.write)
                    .await
                    .ctx("pushed request")?;
                    Ok(done.rows_affected() == 1)
                }

                async fn prune_pushed_requests(&self, now: Timestamp) -> Result<u64> {
                    let done = sqlx::query("DELETE FROM pushed_requests WHERE expires_at < $1")
                        .bind(now.0)
                        .execute(&self.write)
                        .await
                        .ctx("pushed request")?;
                    Ok(done.rows_affected())
                }
            }

            #[async_trait]
            impl DeviceGrantRepo for Backend {
                async fn insert_device_authorization(&self, g: &NewDeviceAuthorization) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO device_authorizations (device_code_hash, user_code, client_id, request, created_at, \
                         expires_at, interval_ms, next_poll_at, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $5, 'pending')",
                    )
                    .bind(&g.hash)
                    .bind(&g.user_code)
                    .bind(&g.client_id)
                    .bind(g.request.to_string())
                    .bind(g.created_at.0)
                    .bind(g.expires_at.0)
                    .bind(g.interval_ms)
                    .execute(&self.write)
                    .await
                    .ctx("device authorization")?;
                    Ok(())
                }

                async fn device_authorization(&self, user_code: &str) -> Result<DeviceAuthorization> {
                    let r = sqlx::query(
                        "SELECT device_code_hash, client_id, request, created_at, expires_at, status \
                         FROM device_authorizations WHERE user_code = $1",
                    )
                    .bind(user_code)
                    .fetch_optional(&self.write)
                    .await
                    .ctx("device authorization")?
                    .ok_or(StoreError::NotFound("device authorization"))?;
                    Ok(DeviceAuthorization {
                        hash: r.try_get("device_code_hash").ctx("device authorization")?,
                        client_id: text(&r, "client_id")?,
                        request: json(&r, "request")?,
                        created_at: Timestamp(int(&r, "created_at")?),
                        expires_at: Timestamp(int(&r, "expires_at")?),
                        status: text(&r, "status")?.parse()?,
                    })
                }

                async fn decide_device_authorization(
                    &self,
                    user_code: &str,
                    decision: &DeviceDecision,
                    now: Timestamp,
                ) -> Result<bool> {
                    let (status, user_id, approval) = match decision {
                        DeviceDecision::Approve { user_id, approval } => {
                            ("approved", Some(user_id.0.as_str()), Some(approval.to_string()))
                        }
                        DeviceDecision::Deny => ("denied", None, None),
                    };
                    let done = sqlx::query(
                        "UPDATE device_authorizations SET status = $1, user_id = $2, approval = $3, decided_at = $4 \
                         WHERE user_code = $5 AND status = 'pending' AND expires_at >= $4",
                    )
                    .bind(status)
                    .bind(user_id)
                    .bind(approval)
                    .bind(now.0)
                    .bind(user_code)
                    .execute(&self.write)
                    .await
                    .ctx("device authorization")?;
                    Ok(done.rows_affected() == 1)
                }

                async fn poll_device_authorization(&self, hash: &[u8], client_id: &str, now: Timestamp) -> Result<DevicePoll> {
                    let Some(r) = sqlx::query(
                        "SELECT client_id, request, expires_at, next_poll_at, status, user_id, approval \
                         FROM device_authorizations WHERE device_code_hash = $1",
                    )
                    .bind(hash)
                    .fetch_optional(&self.write)
                    .await
                    .ctx("device authorization")?
                    else {
                        return Ok(DevicePoll::Unknown);
                    };
                    if text(&r, "client_id")? != client_id {
                        return Ok(DevicePoll::OtherClient);
                    }
                    let status: DeviceGrantStatus = text(&r, "status")?.parse()?;
                    match status {
                        DeviceGrantStatus::Redeemed => return Ok(DevicePoll::Redeemed),
                        DeviceGrantStatus::Denied => return Ok(DevicePoll::Denied),
                        _ if now.0 > int(&r, "expires_at")? => return Ok(DevicePoll::Expired),
                        DeviceGrantStatus::Approved => {
                            let taken = sqlx::query(
                                "UPDATE device_authorizations SET status = 'redeemed' \
                                 WHERE device_code_hash = $1 AND status = 'approved'",
                            )
                            .bind(hash)
                            .execute(&self.write)
                            .await
                            .ctx("device authorization")?;
                            if taken.rows_affected() != 1 {
                                return Ok(DevicePoll::Redeemed);
                            }
                            let user_id = opt_text(&r, "user_id")?
                                .ok_or_else(|| StoreError::Corrupt("an approved device authorization has no user".into()))?;
                            let approval = opt_text(&r, "approval")?.unwrap_or_else(|| "{}".into());
                            return Ok(DevicePoll::Approved {
                                request: json(&r, "request")?,
                                user_id: UserId(user_id),
                                approval: serde_json::from_str(&approval)
                                    .map_err(|e| StoreError::Corrupt(format!("device approval: {e}")))?,
                            });
                        }
                        DeviceGrantStatus::Pending => {}
                    }
                    // Too soon: the interval grows by five seconds, from now (RFC 8628 §3.5).
                    let too_soon = now.0 < int(&r, "next_poll_at")?;
                    sqlx::query(
                        "UPDATE device_authorizations SET \
                         interval_ms = interval_ms + CASE WHEN $1 THEN 5000 ELSE 0 END, \
                         next_poll_at = $2 + interval_ms + CASE WHEN $1 THEN 5000 ELSE 0 END \
                         WHERE device_code_hash = $3",
                    )
                    .bind(too_soon)
                    .bind(now.0)
                    .bind(hash)
                    .execute(&self.write)
                    .await
                    .ctx("device authorization")?;
                    Ok(if too_soon { DevicePoll::SlowDown } else { DevicePoll::Pending })
                }

                async fn prune_device_authorizations(&self, now: Timestamp) -> Result<u64> {
                    let done = sqlx::query("DELETE FROM device_authorizations WHERE expires_at < $1")
                        .bind(now.0)
                        .execute(&self.write)
                        .await
                        .ctx("device authorization")?;
                    Ok(done.rows_affected())
                }
            }

            const LOGOUT: &str = "id, client_id, uri, user_id, session_id, reason, created_at, attempts";

            #[async_trait]
            impl LogoutRepo for Backend {
                async fn claim_logouts(
                    &self,
                    worker: &str,
                    limit: u32,
                    now: Timestamp,
                    lease: std::time::Duration,
                ) -> Result<Vec<LogoutDelivery>> {
                    // The claim conditions are repeated outside the subquery: PostgreSQL checks
                    // them again on a row another worker changed meanwhile, so claims are disjoint.
                    const CLAIMABLE: &str = "settled_at IS NULL AND next_attempt_at <= $3 \
                         AND (claim_expires_at IS NULL OR claim_expires_at <= $3)";
                    // Looking costs a read; only finding something costs a write.
                    let due = sqlx::query("SELECT 1 FROM logout_deliveries WHERE settled_at IS NULL AND next_attempt_at <= $1 LIMIT 1")
                        .bind(now.0)
                        .fetch_optional(&self.read)
                        .await
                        .ctx("back-channel logout")?;
                    if due.is_none() {
                        return Ok(Vec::new());
                    }
                    let until = now.plus_ms(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
                    let rows = sqlx::query(&format!(
                        "UPDATE logout_deliveries SET claimed_by = $1, claim_expires_at = $2 \
                         WHERE id IN (SELECT id FROM logout_deliveries WHERE {CLAIMABLE} ORDER BY id LIMIT $4) \
                         AND {CLAIMABLE} RETURNING {LOGOUT}"
                    ))
                    .bind(worker)
                    .bind(until.0)
                    .bind(now.0)
                    .bind(i64::from(limit))
                    .fetch_all(&self.write)
                    .await
                    .ctx("back-channel logout")?;
                    let mut claimed = rows
                        .iter()
                        .map(|r| {
                            Ok(LogoutDelivery {
                                id: int(r, "id")?,
                                client_id: text(r, "client_id")?,
                                uri: text(r, "uri")?,
                                user_id: UserId(text(r, "user_id")?),
                                session_id: SessionId(text(r, "session_id")?),
                                reason: text(r, "reason")?,
                                created_at: Timestamp(int(r, "created_at")?),
                                attempts: u32::try_from(int(r, "attempts")?).unwrap_or(u32::MAX),
                            })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    claimed.sort_by_key(|d| d.id);
                    Ok(claimed)
                }

                async fn settle_logout(
                    &self,
                    id: i64,
                    outcome: LogoutOutcome,
                    error: Option<&str>,
                    now: Timestamp,
                ) -> Result<()> {
                    sqlx::query(
                        "UPDATE logout_deliveries SET settled_at = $1, outcome = $2, last_error = $3, \
                         attempts = attempts + 1, claimed_by = NULL, claim_expires_at = NULL WHERE id = $4",
                    )
                    .bind(now.0)
                    .bind(outcome.as_str())
                    .bind(error)
                    .bind(id)
                    .execute(&self.write)
                    .await
                    .ctx("back-channel logout")?;
                    Ok(())
                }

                async fn retry_logout(&self, id: i64, error: &str, at: Timestamp) -> Result<()> {
                    sqlx::query(
                        "UPDATE logout_deliveries SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2, \
                         claimed_by = NULL, claim_expires_at = NULL WHERE id = $3",
                    )
                    .bind(at.0)
                    .bind(error)
                    .bind(id)
                    .execute(&self.write)
                    .await
                    .ctx("back-channel logout")?;
                    Ok(())
                }

                async fn unsettled_logouts(&self) -> Result<u64> {
                    let row = sqlx::query("SELECT COUNT(*) FROM logout_deliveries WHERE settled_at IS NULL")
                        .fetch_one(&self.read)
                        .await
                        .ctx("back-channel logout")?;
                    let n: i64 = row.try_get(0).ctx("back-channel logout")?;
                    Ok(u64::try_from(n).unwrap_or(0))
                }

                async fn prune_logouts(&self, before: Timestamp) -> Result<u64> {
                    let done = sqlx::query("DELETE FROM logout_deliveries WHERE settled_at < $1")
                        .bind(before.0)
                        .execute(&self.write)
                        .await
                        .ctx("back-channel logout")?;
                    Ok(done.rows_affected())
                }
            }

            #[async_trait]
            impl SignInLogRepo for Backend {
                async fn append_sign_ins(&self, entries: &[SignInLog]) -> Result<()> {
                    self.commit_group(entries, &[]).await.map(drop)
                }

                async fn commit_group(
                    &self,
                    entries: &[SignInLog],
                    rotations: &[Rotate<'_>],
                ) -> Result<Vec<Option<Family>>> {
                    crate::shared::Backend::write_group(self, entries, rotations).await
                }

                async fn sign_ins(&self, f: &SignInFilter) -> Result<Vec<SignInLog>> {
                    let (before_at, before_id) = match &f.before {
                        Some((at, id)) => (at.0, id.clone()),
                        None => (i64::MAX, String::new()),
                    };
                    let sql = format!(
                        "SELECT {LOG} FROM sign_in_logs WHERE ($1 = '' OR user_id = $1) AND ($2 = '' OR outcome = $2) \
                         AND (at < $3 OR (at = $3 AND ($4 = '' OR id < $4))) ORDER BY at DESC, id DESC LIMIT $5"
                    );
                    sqlx::query(&sql)
                        .bind(f.user_id.as_ref().map_or("", |u| u.0.as_str()))
                        .bind(f.outcome.as_deref().unwrap_or(""))
                        .bind(before_at)
                        .bind(before_id)
                        .bind(i64::from(f.limit.clamp(1, 1000)))
                        .fetch_all(&self.read)
                        .await
                        .ctx("sign-in log entry")?
                        .iter()
                        .map(log)
                        .collect()
                }

                async fn sign_in(&self, id: &str) -> Result<SignInLog> {
                    let sql = format!("SELECT {LOG} FROM sign_in_logs WHERE id = $1");
                    log(&sqlx::query(&sql).bind(id).fetch_one(&self.read).await.ctx("sign-in log entry")?)
                }
            }

            #[async_trait]
            impl StreamRepo for Backend {
                async fn stream_health(&self) -> Result<Vec<StreamHealth>> {
                    let sql = format!(
                        "SELECT {}, \
                         (SELECT COUNT(*) FROM outbox_deliveries d WHERE d.stream_id = s.id \
                          AND d.acknowledged_at IS NULL) AS pending, \
                         (SELECT MIN(o.created_at) FROM outbox_deliveries d JOIN outbox o ON o.id = d.event_id \
                          WHERE d.stream_id = s.id AND d.acknowledged_at IS NULL) AS oldest_pending_at, \
                         (SELECT d.last_error FROM outbox_deliveries d WHERE d.stream_id = s.id \
                          AND d.acknowledged_at IS NULL AND d.last_error IS NOT NULL \
                          ORDER BY d.event_id DESC LIMIT 1) AS last_error \
                         FROM ssf_streams s ORDER BY s.id",
                        STREAM.split(", ").map(|c| format!("s.{c}")).collect::<Vec<_>>().join(", ")
                    );
                    let rows = sqlx::query(&sql).fetch_all(&self.read).await.ctx("stream")?;
                    rows.iter()
                        .map(|row| {
                            Ok(StreamHealth {
                                stream: stream(row)?,
                                pending: u64::try_from(int(row, "pending")?).unwrap_or(0),
                                oldest_pending_at: opt_int(row, "oldest_pending_at")?.map(Timestamp),
                                last_error: opt_text(row, "last_error")?,
                            })
                        })
                        .collect()
                }

                async fn recent_events(&self, limit: u32) -> Result<Vec<EventSummary>> {
                    let rows = sqlx::query(
                        "SELECT o.id, o.event_type, o.subject, o.created_at, \
                         (SELECT COUNT(*) FROM outbox_deliveries d WHERE d.event_id = o.id \
                          AND d.acknowledged_at IS NOT NULL) AS delivered, \
                         (SELECT COUNT(*) FROM outbox_deliveries d WHERE d.event_id = o.id \
                          AND d.acknowledged_at IS NULL) AS pending \
                         FROM outbox o ORDER BY o.id DESC LIMIT $1",
                    )
                    .bind(i64::from(limit))
                    .fetch_all(&self.read)
                    .await
                    .ctx("outbox event")?;
                    rows.iter()
                        .map(|row| {
                            Ok(EventSummary {
                                id: EventId(int(row, "id")?),
                                event_type: text(row, "event_type")?,
                                subject: text(row, "subject")?,
                                created_at: Timestamp(int(row, "created_at")?),
                                delivered: u64::try_from(int(row, "delivered")?).unwrap_or(0),
                                pending: u64::try_from(int(row, "pending")?).unwrap_or(0),
                            })
                        })
                        .collect()
                }

                async fn received_sets(&self, limit: u32) -> Result<Vec<ReceivedSet>> {
                    let rows = sqlx::query(
                        "SELECT issuer, jti, received_at FROM received_sets \
                         ORDER BY received_at DESC, issuer, jti LIMIT $1",
                    )
                    .bind(i64::from(limit))
                    .fetch_all(&self.read)
                    .await
                    .ctx("received SET")?;
                    rows.iter()
                        .map(|row| {
                            Ok(ReceivedSet {
                                issuer: text(row, "issuer")?,
                                jti: text(row, "jti")?,
                                received_at: Timestamp(int(row, "received_at")?),
                            })
                        })
                        .collect()
                }

                async fn events_created(&self) -> Result<u64> {
                    let n: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM outbox")
                        .fetch_one(&self.read)
                        .await
                        .ctx("outbox event")?;
                    Ok(u64::try_from(n.unwrap_or(0)).unwrap_or(0))
                }

                async fn stream(&self, id: &StreamId) -> Result<StreamRecord> {
                    let sql = format!("SELECT {STREAM} FROM ssf_streams WHERE id = $1");
                    stream(&sqlx::query(&sql).bind(&id.0).fetch_one(&self.read).await.ctx("stream")?)
                }

                async fn streams_of(&self, receiver: &str) -> Result<Vec<StreamRecord>> {
                    let sql = format!("SELECT {STREAM} FROM ssf_streams WHERE receiver = $1 ORDER BY id");
                    sqlx::query(&sql).bind(receiver).fetch_all(&self.read).await.ctx("stream")?.iter().map(stream).collect()
                }

                async fn add_subject(&self, s: &StreamId, subject: &serde_json::Value, now: Timestamp) -> Result<bool> {
                    // serde_json orders object members, so equal subjects have one text form.
                    let done = sqlx::query(
                        "INSERT INTO stream_subjects (stream_id, subject, added_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (stream_id, subject) DO NOTHING",
                    )
                    .bind(&s.0)
                    .bind(subject.to_string())
                    .bind(now.0)
                    .execute(&self.write)
                    .await
                    .ctx("stream subject")?;
                    Ok(done.rows_affected() == 1)
                }

                async fn remove_subject(&self, s: &StreamId, subject: &serde_json::Value) -> Result<bool> {
                    let done = sqlx::query("DELETE FROM stream_subjects WHERE stream_id = $1 AND subject = $2")
                        .bind(&s.0)
                        .bind(subject.to_string())
                        .execute(&self.write)
                        .await
                        .ctx("stream subject")?;
                    Ok(done.rows_affected() == 1)
                }

                async fn subjects(&self, s: &StreamId) -> Result<Vec<serde_json::Value>> {
                    let rows = sqlx::query("SELECT subject FROM stream_subjects WHERE stream_id = $1 ORDER BY subject")
                        .bind(&s.0)
                        .fetch_all(&self.read)
                        .await
                        .ctx("stream subject")?;
                    rows.iter().map(|r| json(r, "subject")).collect()
                }

                async fn record_verification(&self, s: &StreamId, now: Timestamp, min_interval_ms: i64) -> Result<bool> {
                    let done = sqlx::query(
                        "UPDATE ssf_streams SET last_verification_at = $1 WHERE id = $2 \
                         AND (last_verification_at IS NULL OR last_verification_at <= $3)",
                    )
                    .bind(now.0)
                    .bind(&s.0)
                    .bind(now.0.saturating_sub(min_interval_ms))
                    .execute(&self.write)
                    .await
                    .ctx("stream")?;
                    if done.rows_affected() == 1 {
                        return Ok(true);
                    }
                    // Distinguish "too soon" from "no such stream".
                    self.stream(s).await.map(|_| false)
                }
            }

            impl Uow {
                pub(super) async fn put_client_registration_inner(&mut self, r: &ClientRegistration) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO client_registrations (client_id, token_hash, metadata, created_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (client_id) DO UPDATE SET token_hash = excluded.token_hash, metadata = excluded.metadata",
                    )
                    .bind(&r.client_id)
                    .bind(&r.token_hash)
                    .bind(r.metadata.to_string())
                    .bind(r.created_at.0)
                    .execute(&mut *self.tx)
                    .await
                    .ctx("client registration")?;
                    Ok(())
                }

                pub(super) async fn put_application_inner(&mut self, a: &Application) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO applications (id, name, kind, secret_hash, redirect_uris, grant_types, scopes, jwks, \
                         access_token_minutes, refresh_token_days, cae_capable, require_dpop, require_pushed_authorization_requests, \
                         backchannel_logout_uri, fapi2, created_at, changed_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (id) DO UPDATE SET \
                         name = excluded.name, kind = excluded.kind, secret_hash = excluded.secret_hash, \
                         redirect_uris = excluded.redirect_uris, grant_types = excluded.grant_types, scopes = excluded.scopes, \
                         jwks = excluded.jwks, \
                         access_token_minutes = excluded.access_token_minutes, \
                         refresh_token_days = excluded.refresh_token_days, cae_capable = excluded.cae_capable, \
                         require_dpop = excluded.require_dpop, \
                         require_pushed_authorization_requests = excluded.require_pushed_authorization_requests, \
                         backchannel_logout_uri = excluded.backchannel_logout_uri, fapi2 = excluded.fapi2, \
                         changed_at = excluded.changed_at",
                    )
                    .bind(&a.id)
                    .bind(&a.name)
                    .bind(a.kind.as_str())
                    .bind(a.secret_hash.as_ref().map(Secret::expose))
                    .bind(to_list(&a.redirect_uris))
                    .bind(to_list(&a.grant_types))
                    .bind(to_list(&a.scopes))
                    .bind(a.jwks.as_ref().map(serde_json::Value::to_string))
                    .bind(a.access_token_minutes)
                    .bind(a.refresh_token_days)
                    .bind(i64::from(a.cae_capable))
                    .bind(i64::from(a.require_dpop))
                    .bind(i64::from(a.require_pushed_authorization_requests))
                    .bind(&a.backchannel_logout_uri)
                    .bind(i64::from(a.fapi2))
                    .bind(a.created_at.0)
                    .bind(a.changed_at.0)
                    .execute(&mut *self.tx)
                    .await
                    .ctx("application")?;
                    Ok(())
                }

                pub(super) async fn delete_row_inner(&mut self, table: Table, id: &str) -> Result<()> {
                    let sql = format!("DELETE FROM {} WHERE id = $1", table.name());
                    let done = sqlx::query(&sql).bind(id).execute(&mut *self.tx).await.ctx(table.what())?;
                    if done.rows_affected() == 0 { Err(StoreError::NotFound(table.what())) } else { Ok(()) }
                }

                /// Locks the user's row for the rest of the transaction (a no-op update takes the
                /// row lock on PostgreSQL; SQLite's one writer is a lock already) and counts the
                /// user's devices, so a cap checked on the count holds under concurrency.
                pub(super) async fn lock_user_devices_inner(&mut self, user: &UserId) -> Result<u64> {
                    sqlx::query("UPDATE users SET changed_at = changed_at WHERE id = $1")
                        .bind(&user.0)
                        .execute(&mut *self.tx)
                        .await
                        .ctx("user")?;
                    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM devices WHERE user_id = $1")
                        .bind(&user.0)
                        .fetch_one(&mut *self.tx)
                        .await
                        .ctx("device")?;
                    Ok(u64::try_from(n).unwrap_or(0))
                }

                /// Likewise for a receiver (an application) and its streams.
                pub(super) async fn lock_receiver_streams_inner(&mut self, receiver: &str) -> Result<u64> {
                    sqlx::query("UPDATE applications SET changed_at = changed_at WHERE id = $1")
                        .bind(receiver)
                        .execute(&mut *self.tx)
                        .await
                        .ctx("application")?;
                    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM ssf_streams WHERE receiver = $1")
                        .bind(receiver)
                        .fetch_one(&mut *self.tx)
                        .await
                        .ctx("stream")?;
                    Ok(u64::try_from(n).unwrap_or(0))
                }

                pub(super) async fn insert_device_inner(&mut self, d: &Device) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO devices (id, user_id, display_name, platform, os_version, trust_type, compliance, \
                         status, public_jwk, jkt, key_protection, key_attestation, created_at, last_seen_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                    )
                    .bind(&d.id)
                    .bind(&d.user_id.0)
                    .bind(&d.display_name)
                    .bind(&d.platform)
                    .bind(&d.os_version)
                    .bind(d.trust_type.as_str())
                    .bind(d.compliance.as_str())
                    .bind(d.status.as_str())
                    .bind(d.public_jwk.to_string())
                    .bind(&d.jkt)
                    .bind(d.key_protection.as_str())
                    .bind(
                        d.key_attestation
                            .as_ref()
                            .map(serde_json::to_string)
                            .transpose()
                            .map_err(|e| StoreError::Invalid(format!("key attestation: {e}")))?,
                    )
                    .bind(d.created_at.0)
                    .bind(d.last_seen_at.map(|t| t.0))
                    .execute(&mut *self.tx)
                    .await
                    .ctx("device")?;
                    Ok(())
                }

                pub(super) async fn update_device_inner(&mut self, id: &str, c: DeviceChange) -> Result<Device> {
                    let sql = format!(
                        "UPDATE devices SET status = COALESCE($1, status), compliance = COALESCE($2, compliance) \
                         WHERE id = $3 RETURNING {DEVICE}"
                    );
                    let row = sqlx::query(&sql)
                        .bind(c.status.map(DeviceStatus::as_str))
                        .bind(c.compliance.map(Compliance::as_str))
                        .bind(id)
                        .fetch_one(&mut *self.tx)
                        .await
                        .ctx("device")?;
                    device(&row)
                }

                pub(super) async fn add_mfa_method_inner(&mut self, m: &MfaMethod) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO mfa_methods (id, user_id, kind, label, secret, created_at, last_used_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&m.id)
                    .bind(&m.user_id.0)
                    .bind(m.kind.as_str())
                    .bind(&m.label)
                    .bind(m.secret.expose())
                    .bind(m.created_at.0)
                    .bind(m.last_used_at.map(|t| t.0))
                    .execute(&mut *self.tx)
                    .await
                    .ctx("MFA method")?;
                    Ok(())
                }

                pub(super) async fn put_named_location_inner(&mut self, l: &NamedLocationRecord) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO named_locations (id, display_name, ip_ranges, trusted, changed_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, \
                         ip_ranges = excluded.ip_ranges, trusted = excluded.trusted, changed_at = excluded.changed_at",
                    )
                    .bind(&l.id)
                    .bind(&l.display_name)
                    .bind(to_list(&l.ip_ranges))
                    .bind(i64::from(l.trusted))
                    .bind(l.changed_at.0)
                    .execute(&mut *self.tx)
                    .await
                    .ctx("named location")?;
                    Ok(())
                }

                pub(super) async fn put_policy_inner(&mut self, p: &PolicyRecord) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO policies (id, state, document, changed_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (id) DO UPDATE SET state = excluded.state, document = excluded.document, \
                         changed_at = excluded.changed_at",
                    )
                    .bind(&p.id)
                    .bind(&p.state)
                    .bind(p.document.to_string())
                    .bind(p.changed_at.0)
                    .execute(&mut *self.tx)
                    .await
                    .ctx("policy")?;
                    Ok(())
                }
            }
        }
    };
}

pub(crate) use directory_impl;

/// Tables whose rows a unit of work deletes by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `applications`
    Applications,
    /// `devices`
    Devices,
    /// `user_groups` (memberships go with it)
    Groups,
    /// `mfa_methods`
    MfaMethods,
    /// `named_locations`
    NamedLocations,
    /// `policies`
    Policies,
    /// `ssf_streams`
    Streams,
}

impl Table {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Applications => "applications",
            Self::Devices => "devices",
            Self::Groups => "user_groups",
            Self::MfaMethods => "mfa_methods",
            Self::NamedLocations => "named_locations",
            Self::Policies => "policies",
            Self::Streams => "ssf_streams",
        }
    }

    pub(crate) const fn what(self) -> &'static str {
        match self {
            Self::Applications => "application",
            Self::Devices => "device",
            Self::Groups => "group",
            Self::MfaMethods => "MFA method",
            Self::NamedLocations => "named location",
            Self::Policies => "policy",
            Self::Streams => "stream",
        }
    }
}
