//! Registered devices. A user registers a device by proving possession of its key; that key's
//! thumbprint (`jkt`) is what token protection later binds sign-in sessions to. The platform and
//! OS version recorded here, not what a client claims at sign-in, are what Conditional Access
//! sees.

use serde::Deserialize;
use tessera_jose::subject::ComplexSubject;
use tessera_jose::{PublicJwk, SubjectId};
use tessera_signals::DirectoryChange;
use tessera_signals::events::ComplianceStatus;
use tessera_store::{
    Compliance, Device, DeviceChange, DeviceStatus, KeyAttestation, KeyProtection, SubjectKind, Table,
    TrustType, UserId,
};

use super::{Directory, DirectoryError, FieldError, Result, check_name, finish};

/// The platforms a device may report, as Conditional Access names them.
pub const PLATFORMS: &[&str] = &["windows", "macOS", "linux", "iOS", "android"];

/// What a client says about the device it registers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSpec {
    /// A name for people ("Alice's laptop").
    pub display_name: String,
    /// One of [`PLATFORMS`].
    pub platform: String,
    /// The operating system's version.
    #[serde(default)]
    pub os_version: Option<String>,
}

impl Directory {
    /// Registers a device for `user` with the public key `key`, which the caller has proved it
    /// holds, protected as `protection` says (with what its attestation showed). At most
    /// `limit` devices per user; a key can be registered once.
    ///
    /// # Errors
    /// [`DirectoryError::Invalid`] for a bad name, platform or version, or when the user has
    /// `limit` devices already; [`DirectoryError::Conflict`] when the key is registered.
    pub async fn register_device(
        &self,
        user: &UserId,
        spec: &DeviceSpec,
        key: &PublicJwk,
        protection: (KeyProtection, Option<KeyAttestation>),
        limit: u32,
    ) -> Result<Device> {
        let mut errors = Vec::new();
        check_name("display_name", &spec.display_name, &mut errors);
        if !PLATFORMS.contains(&spec.platform.as_str()) {
            errors.push(FieldError::new(
                "platform",
                format!("must be one of {}", PLATFORMS.join(", ")),
            ));
        }
        if let Some(v) = &spec.os_version
            && (v.is_empty() || v.len() > 64 || v.chars().any(char::is_control))
        {
            errors.push(FieldError::new(
                "os_version",
                "must be 1 to 64 printable characters",
            ));
        }
        finish(errors)?;
        let jkt = key.thumbprint().as_str().to_owned();
        if self.store.device_by_jkt(&jkt).await.is_ok() {
            return Err(DirectoryError::Conflict("this key is registered already".into()));
        }
        let id = format!(
            "dev-{}",
            tessera_jose::random::random_id::<12>(self.rng.as_ref())?
        );
        let device = Device {
            id,
            user_id: user.clone(),
            display_name: spec.display_name.trim().to_owned(),
            platform: spec.platform.clone(),
            os_version: spec.os_version.clone(),
            trust_type: TrustType::Registered,
            compliance: Compliance::Unknown,
            status: DeviceStatus::Enabled,
            public_jwk: key.to_json(),
            jkt,
            key_protection: protection.0,
            key_attestation: protection.1,
            created_at: self.now,
            last_seen_at: None,
        };
        let mut uow = self.store.begin().await?;
        // Counted with the user locked, so concurrent registrations cannot pass the cap.
        if uow.lock_user_devices(user).await? >= u64::from(limit) {
            return Err(DirectoryError::field(
                "",
                format!("a user may register at most {limit} devices; remove one first"),
            ));
        }
        match uow.insert_device(&device).await {
            Err(tessera_store::StoreError::Conflict(_)) => {
                return Err(DirectoryError::Conflict("this key is registered already".into()));
            }
            other => other?,
        }
        uow.commit().await?;
        Ok(device)
    }
}

/// An administrator's change to a device; absent members stay as they are.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevicePatch {
    /// Enable or disable: a disabled device no longer satisfies token protection.
    #[serde(default)]
    pub status: Option<DeviceStatus>,
    /// Mark compliant or not.
    #[serde(default)]
    pub compliance: Option<Compliance>,
}

fn caep_compliance(c: Compliance) -> ComplianceStatus {
    match c {
        Compliance::Compliant => ComplianceStatus::Compliant,
        Compliance::Unknown | Compliance::NotCompliant => ComplianceStatus::NotCompliant,
    }
}

impl Directory {
    /// The subject of a device's events: its user and the device (an SSF complex subject).
    fn device_subject(&self, device: &Device) -> SubjectId {
        SubjectId::Complex(ComplexSubject {
            user: Some(Box::new(self.user_subject(&device.user_id))),
            device: Some(Box::new(SubjectId::Opaque {
                id: device.id.clone(),
            })),
            ..ComplexSubject::default()
        })
    }

    /// Changes a device. A compliance change raises `device-compliance-change`; disabling ends
    /// what was issued to the device (its "not before" instant, and a `session-revoked` event
    /// about the device for subscribed APIs).
    ///
    /// # Errors
    /// [`DirectoryError::NotFound`].
    pub async fn update_device(&self, id: &str, patch: DevicePatch) -> Result<Device> {
        let before = self.store.device(id).await?;
        let mut uow = self.store.begin().await?;
        let after = uow
            .update_device(
                id,
                DeviceChange {
                    status: patch.status,
                    compliance: patch.compliance,
                },
            )
            .await?;
        let (from, to) = (
            caep_compliance(before.compliance),
            caep_compliance(after.compliance),
        );
        if from != to {
            let change = DirectoryChange::DeviceCompliance { from, to };
            self.emit_about(uow.as_mut(), &self.device_subject(&after), &change)
                .await?;
        }
        if before.status == DeviceStatus::Enabled && after.status == DeviceStatus::Disabled {
            uow.set_not_before(SubjectKind::Device, id, self.now).await?;
            // Subscribed APIs end the device's sessions too (and only the device's).
            self.emit_about(
                uow.as_mut(),
                &self.device_subject(&after),
                &DirectoryChange::SessionsRevoked,
            )
            .await?;
        }
        uow.commit().await?;
        Ok(after)
    }

    /// Deletes a device; what was issued to it stops working, here and (by a `session-revoked`
    /// event about the device) at every subscribed API.
    ///
    /// # Errors
    /// [`DirectoryError::NotFound`].
    pub async fn delete_device(&self, id: &str) -> Result<()> {
        let device = self.store.device(id).await?;
        let mut uow = self.store.begin().await?;
        uow.delete(Table::Devices, id).await?;
        uow.set_not_before(SubjectKind::Device, id, self.now).await?;
        self.emit_about(
            uow.as_mut(),
            &self.device_subject(&device),
            &DirectoryChange::SessionsRevoked,
        )
        .await?;
        uow.commit().await?;
        Ok(())
    }
}
