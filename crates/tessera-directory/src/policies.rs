//! Conditional Access policies and named locations. A change is accepted only when the whole
//! set still compiles with it: every user, group, application and location a policy names
//! exists, and a location in use cannot be deleted. Sign-in never meets a set that does not
//! compile.

use serde::Deserialize;
use tessera_policy::{AnyDirectory, KnownIds, NamedLocation, Policy, PolicySet, ValidationError};
use tessera_store::{NamedLocationRecord, PolicyRecord, Store, Table};

use super::{Directory, DirectoryError, FieldError, Result, check_id, check_name, finish};

/// A named location as an administrator describes it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationSpec {
    /// A name for people.
    pub display_name: String,
    /// IPv4 and IPv6 ranges in CIDR notation.
    pub ip_ranges: Vec<String>,
    /// Whether it counts as trusted (`AllTrusted`).
    #[serde(default)]
    pub trusted: bool,
}

/// The ids policies may refer to.
///
/// # Errors
/// From the store.
pub async fn known_ids(store: &dyn Store) -> Result<KnownIds> {
    let mut ids = KnownIds::default();
    let mut after = None;
    loop {
        let page = store.list_users(after.as_ref(), 1000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        ids.users.extend(page.into_iter().map(|u| u.id.0));
    }
    ids.groups
        .extend(store.groups().await?.into_iter().map(|g| g.id.0));
    ids.applications
        .extend(store.applications().await?.into_iter().map(|a| a.id));
    Ok(ids)
}

fn location_def(record: &NamedLocationRecord) -> std::result::Result<NamedLocation, FieldError> {
    let ip_ranges = record
        .ip_ranges
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.trim().parse().map_err(|_| {
                FieldError::new(
                    format!("ip_ranges[{i}]"),
                    format!("{r:?} is not an IPv4 or IPv6 range in CIDR notation (203.0.113.0/24)"),
                )
            })
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(NamedLocation {
        id: tessera_policy::LocationId(record.id.clone()),
        display_name: record.display_name.clone(),
        ip_ranges,
        is_trusted: record.trusted,
    })
}

fn parse_stored(record: &PolicyRecord) -> Result<Policy> {
    let bytes = record.document.to_string();
    tessera_policy::parse_policy(bytes.as_bytes()).map_err(|e| {
        DirectoryError::Store(tessera_store::StoreError::Corrupt(format!(
            "stored policy {}: {e}",
            record.id
        )))
    })
}

impl Directory {
    /// Checks that the stored policies and locations still compile with `put_policy` and
    /// `put_location` put in (replacing ones with the same id) and `drop_location` taken out.
    async fn check_set(
        &self,
        put_policy: Option<&Policy>,
        put_location: Option<&NamedLocation>,
        drop_location: Option<&str>,
    ) -> Result<()> {
        let mut policies = Vec::new();
        for record in self.store.policies().await? {
            let replaced = put_policy.is_some_and(|p| p.id.0 == record.id);
            if !replaced {
                policies.push(parse_stored(&record)?);
            }
        }
        policies.extend(put_policy.cloned());
        let mut locations = Vec::new();
        for record in self.store.named_locations().await? {
            let replaced = put_location.is_some_and(|l| l.id.0 == record.id);
            if !replaced && drop_location != Some(record.id.as_str()) {
                locations.push(location_def(&record).map_err(|e| {
                    DirectoryError::Store(tessera_store::StoreError::Corrupt(format!(
                        "stored location {}: {}",
                        record.id, e.message
                    )))
                })?);
            }
        }
        locations.extend(put_location.cloned());
        // The policy being written must name users, groups and applications that exist. Others
        // may name ones deleted since (sign-in tolerates that), so the set as a whole is
        // checked for structure and locations only.
        let mut errors = match put_policy {
            Some(p) => {
                let ids = known_ids(self.store.as_ref()).await?;
                tessera_policy::validate_policy(p, &ids, &locations)
            }
            None => Vec::new(),
        };
        let own = put_policy.map(|p| format!("policies[{}]", p.id.0));
        if let Err(set_errors) = PolicySet::new(policies, locations, &AnyDirectory) {
            for e in set_errors {
                // Paths inside the policy being written are reported relative to it (as the
                // caller sent it); a problem elsewhere keeps the other policy's name.
                let e = match own.as_deref().and_then(|own| e.path.strip_prefix(own)) {
                    Some(rest) => ValidationError {
                        path: rest.trim_start_matches('.').to_owned(),
                        message: e.message,
                    },
                    None => e,
                };
                if !errors.contains(&e) {
                    errors.push(e);
                }
            }
        }
        finish(
            errors
                .into_iter()
                .map(|e| FieldError::new(e.path, e.message))
                .collect(),
        )
    }

    /// Creates or replaces a policy from its JSON document (Microsoft Graph's
    /// `conditionalAccessPolicy` shape). The document's `id` must be `id` (or absent).
    /// Returns whether it was new.
    ///
    /// # Errors
    /// [`DirectoryError::Invalid`] with every problem found.
    pub async fn put_policy(
        &self,
        id: &str,
        mut document: serde_json::Value,
    ) -> Result<(PolicyRecord, bool)> {
        let mut errors = Vec::new();
        check_id("id", id, &mut errors);
        finish(errors)?;
        let Some(object) = document.as_object_mut() else {
            return Err(DirectoryError::field("", "a policy is a JSON object"));
        };
        match object.get("id") {
            None => {
                object.insert("id".into(), id.into());
            }
            Some(serde_json::Value::String(given)) if given == id => {}
            Some(_) => {
                return Err(DirectoryError::field(
                    "id",
                    format!("must be {id:?}, as in the URL"),
                ));
            }
        }
        let bytes = document.to_string();
        let policy = tessera_policy::parse_policy(bytes.as_bytes())
            .map_err(|e| DirectoryError::field(e.path, e.message))?;
        self.check_set(Some(&policy), None, None).await?;
        let is_new = matches!(
            self.store.policy(id).await,
            Err(tessera_store::StoreError::NotFound(_))
        );
        let state = serde_json::to_value(policy.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let record = PolicyRecord {
            id: id.to_owned(),
            state,
            document: serde_json::to_value(&policy).map_err(|e| DirectoryError::field("", e.to_string()))?,
            changed_at: self.now,
        };
        let mut uow = self.store.begin().await?;
        uow.put_policy(&record).await?;
        uow.commit().await?;
        Ok((record, is_new))
    }

    /// Deletes a policy.
    ///
    /// # Errors
    /// [`DirectoryError::NotFound`].
    pub async fn delete_policy(&self, id: &str) -> Result<()> {
        let mut uow = self.store.begin().await?;
        uow.delete(Table::Policies, id).await?;
        uow.commit().await?;
        Ok(())
    }

    /// Creates or replaces a named location. Returns whether it was new.
    ///
    /// # Errors
    /// [`DirectoryError::Invalid`] for a bad id, name or range, or when a policy using the
    /// location would no longer compile.
    pub async fn put_location(&self, id: &str, spec: &LocationSpec) -> Result<(NamedLocationRecord, bool)> {
        let mut errors = Vec::new();
        check_id("id", id, &mut errors);
        if matches!(id, "All" | "AllTrusted") {
            errors.push(FieldError::new("id", "All and AllTrusted are reserved"));
        }
        check_name("display_name", &spec.display_name, &mut errors);
        if spec.ip_ranges.is_empty() {
            errors.push(FieldError::new("ip_ranges", "must list at least one range"));
        }
        let record = NamedLocationRecord {
            id: id.to_owned(),
            display_name: spec.display_name.trim().to_owned(),
            ip_ranges: spec.ip_ranges.iter().map(|r| r.trim().to_owned()).collect(),
            trusted: spec.trusted,
            changed_at: self.now,
        };
        let def = location_def(&record).map_err(|e| errors.push(e)).ok();
        finish(errors)?;
        self.check_set(None, def.as_ref(), None).await?;
        let is_new = !self.store.named_locations().await?.iter().any(|l| l.id == id);
        let mut uow = self.store.begin().await?;
        uow.put_named_location(&record).await?;
        uow.commit().await?;
        Ok((record, is_new))
    }

    /// Deletes a named location that no policy uses.
    ///
    /// # Errors
    /// [`DirectoryError::NotFound`]; [`DirectoryError::Conflict`] naming the policies that use
    /// it.
    pub async fn delete_location(&self, id: &str) -> Result<()> {
        if !self.store.named_locations().await?.iter().any(|l| l.id == id) {
            return Err(DirectoryError::NotFound("named location"));
        }
        if let Err(DirectoryError::Invalid(errors)) = self.check_set(None, None, Some(id)).await {
            let users: Vec<String> = errors.into_iter().map(|e| e.field).collect();
            return Err(DirectoryError::Conflict(format!(
                "the location is used by {}; change those policies first",
                users.join(", ")
            )));
        }
        let mut uow = self.store.begin().await?;
        uow.delete(Table::NamedLocations, id).await?;
        uow.commit().await?;
        Ok(())
    }
}
