//! Conditional Access for Tessera: the policy model (assignments, conditions, grant and
//! session controls, report-only state), its evaluation against a sign-in context, and
//! what-if analysis. A pure crate: no I/O, time and randomness are injected.
