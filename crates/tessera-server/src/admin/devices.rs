//! `/admin/api/devices/{id}`: show, change (status, compliance) and delete registered devices.
//! A user's devices are listed with the user (`GET /admin/api/users/{id}`).

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tessera_directory::DevicePatch;

use super::{Admin, ApiError, JsonBody, ok};
use crate::devices::device_json;

/// `GET /devices/{id}`: the device with its owner.
pub(super) async fn show(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    let device = admin.directory().store().device(&id).await?;
    let mut body = device_json(&device);
    body["user_id"] = device.user_id.0.into();
    Ok(ok(body))
}

/// `PATCH /devices/{id}`: `status` (`enabled`/`disabled`) and `compliance`
/// (`compliant`/`not-compliant`/`unknown`).
pub(super) async fn update(
    admin: Admin,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<DevicePatch>,
) -> Result<Response, ApiError> {
    let device = admin.directory().update_device(&id, patch).await?;
    tracing::info!(admin = %admin.subject, device = %id, status = device.status.as_str(),
        compliance = device.compliance.as_str(), "device changed");
    let mut body = device_json(&device);
    body["user_id"] = device.user_id.0.into();
    Ok(ok(body))
}

/// `DELETE /devices/{id}`
pub(super) async fn delete(admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    admin.directory().delete_device(&id).await?;
    tracing::info!(admin = %admin.subject, device = %id, "device deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}
