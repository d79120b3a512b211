//! What a unit of work writes, written once for both backends (see `shared.rs` for the
//! placeholder convention): users, groups, memberships, "not before" instants, refresh-token
//! families, streams and outbox events, each refused once the unit of work is poisoned.

/// Implements the unit of work's writes and [`crate::repo::UnitOfWork`] for one backend's
/// `$uow`, which wraps a transaction in `tx` and implements
/// `crate::shared::BackendUnitOfWork`; expanded by `shared_impl!`, whose imports it uses.
macro_rules! unit_of_work_impl {
    ($uow:ident) => {
        impl $uow {
            /// Refuses further work once an operation failed: the transaction is poisoned.
            fn check(&self) -> Result<()> {
                if self.failed { Err(StoreError::Aborted) } else { Ok(()) }
            }

            async fn insert_user_inner(&mut self, u: &NewUser) -> Result<()> {
                sqlx::query(
                    "INSERT INTO users (id, username, email, display_name, status, password_hash, risk_level, \
                     created_at, changed_at) VALUES ($1, $2, $3, $4, 'enabled', $5, 'none', $6, $6)",
                )
                .bind(&u.id.0)
                .bind(crate::types::username_key(&u.username))
                .bind(&u.email)
                .bind(&u.display_name)
                .bind(&u.password_hash)
                .bind(u.created_at.0)
                .execute(&mut *self.tx)
                .await
                .ctx("user")?;
                Ok(())
            }

            async fn update_user_inner(&mut self, id: &UserId, c: &UserChange, now: Timestamp) -> Result<User> {
                let sql = format!(
                    "UPDATE users SET status = COALESCE($1, status), risk_level = COALESCE($2, risk_level), \
                     password_hash = CASE WHEN $3 = 1 THEN $4 ELSE password_hash END, \
                     display_name = COALESCE($5, display_name), changed_at = $6 WHERE id = $7 \
                     RETURNING {USER_COLUMNS}"
                );
                let row = sqlx::query(&sql)
                    .bind(c.status.map(UserStatus::as_str))
                    .bind(c.risk.map(RiskLevel::as_str))
                    .bind(i64::from(c.password_hash.is_some()))
                    .bind(c.password_hash.clone().flatten())
                    .bind(&c.display_name)
                    .bind(now.0)
                    .bind(&id.0)
                    .fetch_one(&mut *self.tx)
                    .await
                    .ctx("user")?;
                user_from_row(&row)
            }

            async fn delete_user_inner(&mut self, id: &UserId) -> Result<()> {
                let done = sqlx::query("DELETE FROM users WHERE id = $1").bind(&id.0).execute(&mut *self.tx).await.ctx("user")?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("user"));
                }
                Ok(())
            }

            async fn insert_group_inner(&mut self, g: &Group) -> Result<()> {
                sqlx::query("INSERT INTO user_groups (id, name, created_at) VALUES ($1, $2, $3)")
                    .bind(&g.id.0)
                    .bind(&g.name)
                    .bind(g.created_at.0)
                    .execute(&mut *self.tx)
                    .await
                    .ctx("group")?;
                Ok(())
            }

            async fn add_member_inner(&mut self, group: &GroupId, user: &UserId) -> Result<bool> {
                let done = sqlx::query(
                    "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT (group_id, user_id) DO NOTHING",
                )
                .bind(&group.0)
                .bind(&user.0)
                .execute(&mut *self.tx)
                .await
                .ctx("group membership")?;
                Ok(done.rows_affected() == 1)
            }

            async fn remove_member_inner(&mut self, group: &GroupId, user: &UserId) -> Result<bool> {
                let done = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                    .bind(&group.0)
                    .bind(&user.0)
                    .execute(&mut *self.tx)
                    .await
                    .ctx("group membership")?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_not_before_inner(&mut self, kind: SubjectKind, id: &str, at: Timestamp) -> Result<()> {
                set_not_before_in(&mut self.tx, kind, id, at).await
            }

            async fn revoke_family_inner(&mut self, id: &FamilyId, reason: &str, now: Timestamp) -> Result<bool> {
                let owed = owe_logouts_in(&mut self.tx, "f.id = $3", &id.0, reason, now).await?;
                self.wake_for_logouts(owed).await?;
                revoke_family_in(&mut self.tx, &id.0, reason, now).await
            }

            /// Delivery workers (the back-channel logout worker among them) wake at the commit
            /// when logouts were queued, as they do for appended events.
            async fn wake_for_logouts(&mut self, owed: u64) -> Result<()> {
                if owed > 0 {
                    crate::shared::BackendUnitOfWork::on_append(self).await?;
                }
                Ok(())
            }

            async fn revoke_user_sessions_inner(&mut self, user: &UserId, reason: &str, now: Timestamp) -> Result<u64> {
                let owed = owe_logouts_in(&mut self.tx, "f.user_id = $3", &user.0, reason, now).await?;
                self.wake_for_logouts(owed).await?;
                let families = sqlx::query(
                    "UPDATE refresh_families SET revoked_at = $1, revoked_reason = $2 WHERE revoked_at IS NULL \
                     AND user_id = $3",
                )
                .bind(now.0)
                .bind(reason)
                .bind(&user.0)
                .execute(&mut *self.tx)
                .await
                .ctx("refresh-token family")?;
                sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                    .bind(now.0)
                    .bind(&user.0)
                    .execute(&mut *self.tx)
                    .await
                    .ctx("session")?;
                set_not_before_in(&mut self.tx, SubjectKind::User, &user.0, now).await?;
                Ok(families.rows_affected())
            }

            async fn end_browser_session_inner(
                &mut self,
                browser_sid: &str,
                reason: &str,
                now: Timestamp,
            ) -> Result<Vec<crate::SessionId>> {
                const OF_BROWSER: &str = "f.session_id IN (SELECT id FROM sessions WHERE browser_sid = $3)";
                let owed = owe_logouts_in(&mut self.tx, OF_BROWSER, browser_sid, reason, now).await?;
                self.wake_for_logouts(owed).await?;
                let ended = sqlx::query(&format!(
                    "UPDATE refresh_families SET revoked_at = $1, revoked_reason = $2 WHERE revoked_at IS NULL AND {} \
                     RETURNING session_id",
                    OF_BROWSER.replace("f.", "")
                ))
                .bind(now.0)
                .bind(reason)
                .bind(browser_sid)
                .fetch_all(&mut *self.tx)
                .await
                .ctx("refresh-token family")?;
                let mut ended = ended
                    .iter()
                    .map(|r| sqlx::Row::try_get::<String, _>(r, 0).map(crate::SessionId).ctx("refresh-token family"))
                    .collect::<Result<Vec<_>>>()?;
                ended.sort_by(|a, b| a.0.cmp(&b.0));
                // The sessions' "not before" instants: their access tokens stop too.
                sqlx::query(
                    "INSERT INTO not_before (subject_kind, subject_id, not_before) \
                     SELECT $1, id, $2 FROM sessions WHERE browser_sid = $3 \
                     ON CONFLICT (subject_kind, subject_id) DO UPDATE SET not_before = excluded.not_before \
                     WHERE excluded.not_before > not_before.not_before",
                )
                .bind(SubjectKind::Session.as_str())
                .bind(now.0)
                .bind(browser_sid)
                .execute(&mut *self.tx)
                .await
                .ctx("not-before instant")?;
                sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE browser_sid = $2 AND revoked_at IS NULL")
                    .bind(now.0)
                    .bind(browser_sid)
                    .execute(&mut *self.tx)
                    .await
                    .ctx("session")?;
                set_not_before_in(&mut self.tx, SubjectKind::Session, browser_sid, now).await?;
                Ok(ended)
            }

            async fn put_stream_inner(
                &mut self,
                id: &StreamId,
                receiver: &str,
                status: StreamStatus,
                config: &serde_json::Value,
                now: Timestamp,
            ) -> Result<()> {
                let delivery = if config["delivery"]["method"] == crate::PUSH_DELIVERY { "push" } else { "poll" };
                sqlx::query(
                    "INSERT INTO ssf_streams (id, receiver, status, config, created_at, changed_at, delivery) \
                     VALUES ($1, $2, $3, $4, $5, $5, $6) ON CONFLICT (id) DO UPDATE SET receiver = excluded.receiver, \
                     status = excluded.status, config = excluded.config, changed_at = excluded.changed_at, \
                     delivery = excluded.delivery",
                )
                .bind(&id.0)
                .bind(receiver)
                .bind(status.as_str())
                .bind(config.to_string())
                .bind(now.0)
                .bind(delivery)
                .execute(&mut *self.tx)
                .await
                .ctx("stream")?;
                Ok(())
            }

            async fn set_stream_status_inner(
                &mut self,
                id: &StreamId,
                status: StreamStatus,
                reason: Option<&str>,
                now: Timestamp,
            ) -> Result<()> {
                let done = sqlx::query(
                    "UPDATE ssf_streams SET status = $1, status_reason = $2, changed_at = $3 WHERE id = $4",
                )
                    .bind(status.as_str())
                    .bind(reason)
                    .bind(now.0)
                    .bind(&id.0)
                    .execute(&mut *self.tx)
                    .await
                    .ctx("stream")?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("stream"));
                }
                if status == StreamStatus::Disabled {
                    sqlx::query("DELETE FROM outbox_deliveries WHERE stream_id = $1 AND acknowledged_at IS NULL")
                        .bind(&id.0)
                        .execute(&mut *self.tx)
                        .await
                        .ctx("outbox delivery")?;
                }
                Ok(())
            }

            async fn delete_stream_inner(&mut self, id: &StreamId) -> Result<()> {
                // Deliveries and subjects go with it (ON DELETE CASCADE).
                let done = sqlx::query("DELETE FROM ssf_streams WHERE id = $1")
                    .bind(&id.0)
                    .execute(&mut *self.tx)
                    .await
                    .ctx("stream")?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound("stream"));
                }
                Ok(())
            }

            /// Writes an event and one delivery for each stream that takes it: every enabled or
            /// paused stream, or only `stream`.
            async fn append_for(&mut self, e: &NewEvent, stream: Option<&StreamId>) -> Result<EventId> {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO outbox (event_type, subject, payload, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(&e.event_type)
                .bind(e.subject.to_string())
                .bind(e.payload.to_string())
                .bind(e.created_at.0)
                .fetch_one(&mut *self.tx)
                .await
                .ctx("outbox event")?;
                sqlx::query(
                    "INSERT INTO outbox_deliveries (stream_id, event_id, next_attempt_at) \
                     SELECT id, $1, $2 FROM ssf_streams WHERE status IN ('enabled', 'paused') \
                     AND ($3 = '' OR id = $3)",
                )
                .bind(id)
                .bind(e.created_at.0)
                .bind(stream.map_or("", |s| s.0.as_str()))
                .execute(&mut *self.tx)
                .await
                .ctx("outbox delivery")?;
                crate::shared::BackendUnitOfWork::on_append(self).await?;
                Ok(EventId(id))
            }

            async fn append_stream_event_inner(&mut self, stream: &StreamId, e: &NewEvent) -> Result<EventId> {
                self.append_for(e, Some(stream)).await
            }

            async fn append_event_inner(&mut self, e: &NewEvent) -> Result<EventId> {
                self.append_for(e, None).await
            }

        }

        crate::shared_writes::guarded_unit_of_work!($uow {
                fn insert_user(user: &NewUser) -> () => insert_user_inner;
                fn update_user(id: &UserId, change: &UserChange, now: Timestamp) -> User => update_user_inner;
                fn delete_user(id: &UserId) -> () => delete_user_inner;
                fn insert_group(group: &Group) -> () => insert_group_inner;
                fn add_member(group: &GroupId, user: &UserId) -> bool => add_member_inner;
                fn remove_member(group: &GroupId, user: &UserId) -> bool => remove_member_inner;
                fn set_not_before(kind: SubjectKind, id: &str, at: Timestamp) -> () => set_not_before_inner;
                fn revoke_family(id: &FamilyId, reason: &str, now: Timestamp) -> bool => revoke_family_inner;
                fn revoke_user_sessions(user: &UserId, reason: &str, now: Timestamp) -> u64 => revoke_user_sessions_inner;
                fn end_browser_session(browser_sid: &str, reason: &str, now: Timestamp) -> Vec<crate::SessionId> => end_browser_session_inner;
                fn put_stream(id: &StreamId, receiver: &str, status: StreamStatus, config: &serde_json::Value, now: Timestamp) -> () => put_stream_inner;
                fn set_stream_status(id: &StreamId, status: StreamStatus, reason: Option<&str>, now: Timestamp) -> () => set_stream_status_inner;
                fn delete_stream(id: &StreamId) -> () => delete_stream_inner;
                fn append_event(event: &NewEvent) -> EventId => append_event_inner;
                fn append_stream_event(stream: &StreamId, event: &NewEvent) -> EventId => append_stream_event_inner;
                fn put_application(app: &crate::directory_types::Application) -> () => put_application_inner;
                fn put_client_registration(registration: &crate::directory_types::ClientRegistration) -> () => put_client_registration_inner;
                fn insert_device(device: &crate::directory_types::Device) -> () => insert_device_inner;
                fn lock_user_devices(user: &UserId) -> u64 => lock_user_devices_inner;
                fn lock_receiver_streams(receiver: &str) -> u64 => lock_receiver_streams_inner;
                fn update_device(id: &str, change: crate::directory_types::DeviceChange) -> crate::directory_types::Device => update_device_inner;
                fn add_mfa_method(method: &crate::directory_types::MfaMethod) -> () => add_mfa_method_inner;
                fn put_named_location(location: &crate::directory_types::NamedLocationRecord) -> () => put_named_location_inner;
                fn put_policy(policy: &crate::directory_types::PolicyRecord) -> () => put_policy_inner;
                fn delete(table: crate::shared_directory::Table, id: &str) -> () => delete_row_inner;
        });

        impl $uow {
            async fn commit_inner(self) -> Result<()> {
                if self.failed {
                    // Dropping the transaction rolls it back.
                    return Err(StoreError::Aborted);
                }
                let appended = self.appended;
                self.tx.commit().await.ctx("transaction")?;
                if appended {
                    self.waker.wake();
                }
                Ok(())
            }
        }
    };
}

pub(crate) use unit_of_work_impl;

/// Writes a backend's `UnitOfWork` impl from a list of operations, each forwarded to its
/// `_inner` method: an operation refuses to run once the unit of work is poisoned, and poisons it
/// when it fails. (The impl carries `#[async_trait]` itself, so the attribute sees the methods
/// after this macro has written them.)
macro_rules! guarded_unit_of_work {
    ($uow:ty { $( fn $name:ident($($arg:ident : $ty:ty),* $(,)?) -> $ret:ty => $inner:ident; )* }) => {
        #[async_trait::async_trait]
        impl crate::repo::UnitOfWork for $uow {
            $(
                async fn $name(&mut self, $($arg: $ty),*) -> crate::Result<$ret> {
                    self.check()?;
                    let r = self.$inner($($arg),*).await;
                    self.failed |= r.is_err();
                    r
                }
            )*

            async fn commit(self: Box<Self>) -> crate::Result<()> {
                (*self).commit_inner().await
            }
        }
    };
}

pub(crate) use guarded_unit_of_work;
