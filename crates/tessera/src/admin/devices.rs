//! `tessera admin devices …`: a registered device's compliance and status, and deleting it.

use clap::{Subcommand, ValueEnum};
use serde_json::json;
use tessera_directory::{DevicePatch, Directory};
use tessera_store::{Compliance, DeviceStatus};

use super::{deleted, report};

#[derive(Debug, Subcommand)]
pub(super) enum DevicesCommand {
    /// Mark a device compliant or not (`device-compliance-change`).
    SetCompliance {
        device: String,
        #[arg(value_enum)]
        compliance: ComplianceArg,
    },
    /// Disable a device: its sessions end and it no longer satisfies token protection.
    Disable { device: String },
    /// Enable a device again.
    Enable { device: String },
    /// Delete a device.
    Delete { device: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum ComplianceArg {
    Compliant,
    NotCompliant,
}

/// `software`, `hardware (unattested)`, `hardware (attestation failed: …)` or
/// `attested (TPM 2.0, IFX, firmware 0x…)`.
pub(super) fn key_protection_text(d: &tessera_store::Device) -> String {
    let a = d.key_attestation.clone().unwrap_or_default();
    let shown = |v: Option<String>| v.unwrap_or_else(|| "?".into());
    match d.key_protection {
        tessera_store::KeyProtection::Software => "software".into(),
        tessera_store::KeyProtection::Hardware if d.key_attestation.is_some() => {
            format!("hardware (attestation failed: {})", shown(a.error))
        }
        tessera_store::KeyProtection::Hardware => "hardware (unattested)".into(),
        tessera_store::KeyProtection::Attested => format!(
            "attested (TPM 2.0, {} {}, firmware {})",
            shown(a.manufacturer),
            shown(a.model),
            shown(a.firmware)
        ),
    }
}

pub(super) async fn devices(dir: &Directory, cmd: DevicesCommand, as_json: bool) -> anyhow::Result<()> {
    let (device, patch) = match cmd {
        DevicesCommand::Delete { device } => {
            dir.delete_device(&device).await.map_err(crate::apps::explain)?;
            deleted(as_json, "device", &device);
            return Ok(());
        }
        DevicesCommand::SetCompliance { device, compliance } => {
            let compliance = match compliance {
                ComplianceArg::Compliant => Compliance::Compliant,
                ComplianceArg::NotCompliant => Compliance::NotCompliant,
            };
            (
                device,
                DevicePatch {
                    compliance: Some(compliance),
                    ..DevicePatch::default()
                },
            )
        }
        DevicesCommand::Disable { device } => (
            device,
            DevicePatch {
                status: Some(DeviceStatus::Disabled),
                ..DevicePatch::default()
            },
        ),
        DevicesCommand::Enable { device } => (
            device,
            DevicePatch {
                status: Some(DeviceStatus::Enabled),
                ..DevicePatch::default()
            },
        ),
    };
    let d = dir
        .update_device(&device, patch)
        .await
        .map_err(crate::apps::explain)?;
    report(
        as_json,
        &format!(
            "device {} ({}): {}, {}, key {}",
            d.id,
            d.display_name,
            d.status.as_str(),
            d.compliance.as_str(),
            key_protection_text(&d)
        ),
        &json!({"id": d.id, "status": d.status.as_str(), "compliance": d.compliance.as_str(), "user_id": d.user_id.0,
                "key_protection": d.key_protection.as_str()}),
    );
    Ok(())
}
