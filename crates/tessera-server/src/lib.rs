//! The Tessera identity provider: OAuth 2.0 / OpenID Connect authorization server, login and
//! MFA, device registration, Conditional Access enforcement, admin console and API, SSF
//! transmitter and receiver, event delivery and metrics.
