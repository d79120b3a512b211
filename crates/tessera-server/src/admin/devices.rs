//! `/admin/api/devices/{id}`: show, change (status, compliance) and delete registered devices.
//! A user's devices are listed with the user (`GET /admin/api/users/{id}`).

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tessera_directory::DevicePatch;

use super::{Admin, ApiError, JsonBody, ok};
use crate::devices::DeviceView;

/// A registered device.
#[utoipa::path(get, path = "/devices/{id}", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = DeviceView)))]
pub(super) async fn show(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let device = admin.directory().store().device(&id).await?;
    Ok(ok(DeviceView::from(&device)))
}

/// Enable or disable a device, or set its compliance (device-compliance-change event).
#[utoipa::path(patch, path = "/devices/{id}", tag = "devices", params(("id" = String, Path)),
    request_body = DevicePatch, responses((status = 200, body = DeviceView)))]
pub(super) async fn update(
    admin: Admin,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<DevicePatch>,
) -> Result<Response, ApiError> {
    let device = admin.directory().update_device(&id, patch).await?;
    tracing::info!(admin = %admin.subject, device = %id, status = device.status.as_str(),
        compliance = device.compliance.as_str(), "device changed");
    Ok(ok(DeviceView::from(&device)))
}

/// Delete a device.
#[utoipa::path(delete, path = "/devices/{id}", tag = "devices", params(("id" = String, Path)),
    responses((status = 204)))]
pub(super) async fn delete(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    admin.directory().delete_device(&id).await?;
    tracing::info!(admin = %admin.subject, device = %id, "device deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}
