//! The OAuth 2.0 endpoints, one file per concern.

pub mod access_token;
pub mod client_auth;
pub mod client_credentials;
pub mod form;
pub mod introspect;
pub mod metadata;
pub mod revoke;
pub mod token;
