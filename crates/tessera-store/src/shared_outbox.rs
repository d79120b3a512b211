//! The outbox's SQL, written once for both backends (see `shared.rs` for the placeholder
//! convention): claiming deliveries with a lease, acknowledging, retrying with backoff,
//! waiting for new events, pruning, and receipts of SETs received.

/// Implements [`crate::repo::OutboxRepo`] for one backend; expanded by `shared_impl!`, whose
/// imports it uses. `$store` implements `crate::shared::Backend` (claim statement, waits).
macro_rules! outbox_impl {
    ($store:ty) => {
        #[async_trait]
        impl OutboxRepo for $store {
            async fn claim_from(
                &self,
                scope: ClaimScope<'_>,
                worker: &str,
                limit: u32,
                now: Timestamp,
                lease: __Duration,
            ) -> Result<Vec<ClaimedDelivery>> {
                let token = crate::shared::Backend::claim_token(self, worker);
                let until = now.plus_ms(lease_ms(lease));
                let (delivery, stream, except) = match scope {
                    ClaimScope::Any => ("", "", &[][..]),
                    ClaimScope::Push => ("push", "", &[][..]),
                    ClaimScope::PushExcept(busy) => ("push", "", busy),
                    ClaimScope::Stream(id) => ("", id.0.as_str(), &[][..]),
                };
                let except = serde_json::to_string(&except.iter().map(|s| s.0.as_str()).collect::<Vec<_>>())
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let mut tx = self.write.begin().await.ctx("outbox delivery")?;
                sqlx::query(crate::shared::Backend::claim_sql(self))
                    .bind(&token)
                    .bind(until.0)
                    .bind(now.0)
                    .bind(delivery)
                    .bind(stream)
                    .bind(except)
                    .bind(i64::from(limit))
                    .execute(&mut *tx)
                    .await
                    .ctx("outbox delivery")?;
                let rows = sqlx::query(
                    "SELECT d.stream_id, d.event_id, d.attempts, o.event_type, o.subject, o.payload, o.created_at \
                     FROM outbox_deliveries d JOIN outbox o ON o.id = d.event_id \
                     WHERE d.claimed_by = $1 ORDER BY d.event_id, d.stream_id",
                )
                .bind(&token)
                .fetch_all(&mut *tx)
                .await
                .ctx("outbox delivery")?;
                tx.commit().await.ctx("outbox delivery")?;
                rows.iter()
                    .map(|row| {
                        let json = |c: &str| -> Result<serde_json::Value> {
                            let text: String = row.try_get(c).ctx("outbox event")?;
                            serde_json::from_str(&text)
                                .map_err(|e| StoreError::Corrupt(format!("outbox event {c} is not JSON: {e}")))
                        };
                        Ok(ClaimedDelivery {
                            stream_id: StreamId(row.try_get("stream_id").ctx("outbox delivery")?),
                            event_id: EventId(row.try_get("event_id").ctx("outbox delivery")?),
                            attempts: row.try_get("attempts").ctx("outbox delivery")?,
                            event_type: row.try_get("event_type").ctx("outbox event")?,
                            subject: json("subject")?,
                            payload: json("payload")?,
                            created_at: Timestamp(row.try_get("created_at").ctx("outbox event")?),
                        })
                    })
                    .collect()
            }

            async fn acknowledge_all(&self, stream: &StreamId, events: &[EventId], now: Timestamp) -> Result<u64> {
                if events.is_empty() {
                    return Ok(0);
                }
                // One statement for the batch: the ids travel as a JSON array.
                let ids = serde_json::to_string(&events.iter().map(|e| e.0).collect::<Vec<_>>())
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let sql = format!(
                    "UPDATE outbox_deliveries SET acknowledged_at = $1, claimed_by = NULL, claim_expires_at = NULL \
                     WHERE stream_id = $2 AND acknowledged_at IS NULL AND {}",
                    <$store>::EVENT_ID_IN_JSON
                );
                let done = sqlx::query(&sql)
                    .bind(now.0)
                    .bind(&stream.0)
                    .bind(ids)
                    .execute(&self.write)
                    .await
                    .ctx("outbox delivery")?;
                Ok(done.rows_affected())
            }

            async fn acknowledge(&self, stream: &StreamId, event: EventId, now: Timestamp) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE outbox_deliveries SET acknowledged_at = $1, claimed_by = NULL, claim_expires_at = NULL \
                     WHERE stream_id = $2 AND event_id = $3 AND acknowledged_at IS NULL",
                )
                .bind(now.0)
                .bind(&stream.0)
                .bind(event.0)
                .execute(&self.write)
                .await
                .ctx("outbox delivery")?;
                Ok(done.rows_affected() == 1)
            }

            async fn extend_claims(&self, stream: &StreamId, worker: &str, until: Timestamp, now: Timestamp) -> Result<u64> {
                let done = sqlx::query(
                    "UPDATE outbox_deliveries SET claim_expires_at = $1 \
                     WHERE stream_id = $2 AND acknowledged_at IS NULL AND claim_expires_at > $3 AND claimed_by LIKE $4",
                )
                .bind(until.0)
                .bind(&stream.0)
                .bind(now.0)
                .bind(format!("%{}#%", crate::shared::like_literal(worker)))
                .execute(&self.write)
                .await
                .ctx("outbox delivery")?;
                Ok(done.rows_affected())
            }

            async fn release_claims(&self, worker_prefix: &str, now: Timestamp) -> Result<u64> {
                let done = sqlx::query(
                    "UPDATE outbox_deliveries SET claim_expires_at = $1 \
                     WHERE acknowledged_at IS NULL AND claim_expires_at > $1 AND claimed_by LIKE $2",
                )
                .bind(now.0)
                .bind(format!("%{}%", crate::shared::like_literal(worker_prefix)))
                .execute(&self.write)
                .await
                .ctx("outbox delivery")?;
                Ok(done.rows_affected())
            }

            async fn retry_later(
                &self,
                stream: &StreamId,
                event: EventId,
                next_attempt_at: Timestamp,
                error: &str,
            ) -> Result<()> {
                sqlx::query(
                    "UPDATE outbox_deliveries SET next_attempt_at = $1, last_error = $2, claimed_by = NULL, \
                     claim_expires_at = NULL WHERE stream_id = $3 AND event_id = $4 AND acknowledged_at IS NULL",
                )
                .bind(next_attempt_at.0)
                .bind(error)
                .bind(&stream.0)
                .bind(event.0)
                .execute(&self.write)
                .await
                .ctx("outbox delivery")?;
                Ok(())
            }

            async fn pending(&self, stream: &StreamId) -> Result<u64> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM outbox_deliveries WHERE stream_id = $1 AND acknowledged_at IS NULL",
                )
                .bind(&stream.0)
                .fetch_one(&self.read)
                .await
                .ctx("outbox delivery")?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn wait_for_events(&self, timeout: __Duration) -> Result<()> {
                crate::shared::Backend::wait(self, timeout).await
            }

            async fn prune_outbox(&self, before: Timestamp) -> Result<u64> {
                let mut tx = self.write.begin().await.ctx("outbox")?;
                let mut gone = 0;
                for sql in [
                    "DELETE FROM outbox_deliveries WHERE acknowledged_at IS NOT NULL AND acknowledged_at < $1",
                    "DELETE FROM outbox WHERE created_at < $1 AND id < (SELECT MAX(id) FROM outbox) \
                     AND NOT EXISTS (SELECT 1 FROM outbox_deliveries d WHERE d.event_id = outbox.id)",
                    "DELETE FROM received_sets WHERE received_at < $1",
                ] {
                    gone += sqlx::query(sql)
                        .bind(before.0)
                        .execute(&mut *tx)
                        .await
                        .ctx("outbox")?
                        .rows_affected();
                }
                tx.commit().await.ctx("outbox")?;
                Ok(gone)
            }

            async fn first_receipt(&self, issuer: &str, jti: &str, now: Timestamp) -> Result<bool> {
                let done = sqlx::query(
                    "INSERT INTO received_sets (issuer, jti, received_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (issuer, jti) DO NOTHING",
                )
                .bind(issuer)
                .bind(jti)
                .bind(now.0)
                .execute(&self.write)
                .await
                .ctx("received SET")?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

pub(crate) use outbox_impl;
