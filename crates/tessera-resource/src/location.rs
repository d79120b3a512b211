//! Location policy at the API: the IdP's rules, the client's address, and the signal back.
//!
//! A token names, in `location_policies`, the Conditional Access policies that did not apply
//! when it was issued only because of where the client was. The API keeps the IdP's location
//! rules (`GET {issuer}/policy/locations`: named locations and each enabled policy's locations
//! condition), fetched by [`crate::Resource::spawn_location_sync`] at start, every
//! [`crate::ResourceConfig::location_refresh`], on a `token-claims-change` signal and when a
//! token names a policy it does not know. For each request it asks whether one of the token's
//! policies would apply from the client's address; if so, the token is refused:
//!
//! - with a claims challenge (`insufficient_claims`) for a CAE-capable client, `invalid_token`
//!   otherwise, so the client goes back to the IdP, which evaluates policy from its address;
//! - with `403` when the token says `location_strict` (a policy's strict CAE session control)
//!   or the API is configured strict;
//!
//! and the IdP hears of it: a CAEP `session-presented` SET with the address (`ips`), pushed to
//! its receiver, at most once per session and address every few minutes. The IdP then also
//! evaluates policy from that address at the session's next refresh, which matters when the
//! client reaches the IdP and the API by different routes.
//!
//! The client's address is the connection's peer, unless the peer is one of
//! [`crate::ResourceConfig::trusted_proxies`]: then `X-Forwarded-For` is read from the right,
//! skipping trusted proxies, and the first address that is not one is the client. A malformed
//! entry makes the address unknown, which is treated as outside every location.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use ipnet::IpNet;
use serde_json::Value;
use tessera_policy::{LocationEnforcer, LocationRules};

/// How long after reporting a session at an address the API stays quiet about it.
const REPORT_QUIET: Duration = Duration::from_secs(300);

/// The client's address: the peer, or, behind trusted proxies, the rightmost address in
/// `X-Forwarded-For` that is not a trusted proxy. `None` when there is no peer or a forwarded
/// entry is malformed.
#[must_use]
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?;
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|n| n.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let mut nearest_trusted = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().ok())
        .collect::<Option<Vec<_>>>()?;
    for hop in hops.iter().rev().flat_map(|v| v.rsplit(',')) {
        let hop = hop.trim();
        let ip = hop
            .parse::<IpAddr>()
            .ok()
            .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))?;
        if !trusted(&ip) {
            return Some(ip);
        }
        nearest_trusted = ip;
    }
    // Every hop is a trusted proxy: the request started at the farthest one.
    Some(nearest_trusted)
}

/// Whether a request may go on as far as location policy goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// None of the token's policies applies from the client's address.
    Inside,
    /// This policy would apply from this address (`None`: the address is unknown).
    Outside { policy: String, ip: Option<IpAddr> },
    /// The rules were never fetched: the API cannot tell.
    Unknown,
}

/// The rules, as last fetched.
#[derive(Debug, Default)]
pub(crate) struct Locations {
    enforcer: RwLock<Option<Arc<LocationEnforcer>>>,
    /// Woken when the rules should be fetched again before the next period.
    pub(crate) refetch: tokio::sync::Notify,
    /// Sessions (or users) at addresses already reported to the IdP.
    reported: RwLock<std::collections::HashMap<(String, IpAddr), Instant>>,
}

impl Locations {
    /// Replaces the rules.
    ///
    /// # Errors
    /// A description of rules that do not compile (the old ones are kept).
    pub(crate) fn load(&self, rules: &LocationRules) -> Result<usize, String> {
        let enforcer = LocationEnforcer::new(rules).map_err(|errs| {
            errs.iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        let n = enforcer.len();
        if let Ok(mut slot) = self.enforcer.write() {
            *slot = Some(Arc::new(enforcer));
        }
        Ok(n)
    }

    /// Whether rules were ever loaded.
    pub(crate) fn loaded(&self) -> bool {
        self.enforcer.read().is_ok_and(|e| e.is_some())
    }

    /// Checks the policies a token names (`location_policies`) from `ip`.
    pub(crate) fn check(&self, policies: &[Value], ip: Option<IpAddr>) -> Verdict {
        let Some(enforcer) = self.enforcer.read().ok().and_then(|e| e.clone()) else {
            self.refetch.notify_one();
            return Verdict::Unknown;
        };
        for policy in policies.iter().filter_map(Value::as_str) {
            let Some(ip) = ip else {
                return Verdict::Outside {
                    policy: policy.to_owned(),
                    ip: None,
                };
            };
            match enforcer.applies(policy, ip) {
                Some(true) => {
                    return Verdict::Outside {
                        policy: policy.to_owned(),
                        ip: Some(ip),
                    };
                }
                Some(false) => {}
                // New at the IdP, or deleted there: fetch again; a deleted policy enforces
                // nothing.
                None => self.refetch.notify_one(),
            }
        }
        Verdict::Inside
    }

    /// Whether `who` at `ip` should be reported now (not reported in the last few minutes).
    pub(crate) fn should_report(&self, who: &str, ip: IpAddr) -> bool {
        let Ok(mut reported) = self.reported.write() else {
            return false;
        };
        let now = Instant::now();
        reported.retain(|_, at| now.duration_since(*at) < REPORT_QUIET);
        match reported.entry((who.to_owned(), ip)) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn client_address_table() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        // (what, peer, X-Forwarded-For headers, the client's address)
        type Case<'a> = (&'a str, Option<&'a str>, &'a [&'a str], Option<IpAddr>);
        let cases: &[Case<'_>] = &[
            (
                "no proxy: the peer, whatever the header says",
                Some("203.0.113.9"),
                &["198.51.100.1"],
                ip("203.0.113.9"),
            ),
            (
                "behind a proxy: the forwarded client",
                Some("10.0.0.2"),
                &["198.51.100.1"],
                ip("198.51.100.1"),
            ),
            (
                "a spoofed left entry is ignored",
                Some("10.0.0.2"),
                &["6.6.6.6, 198.51.100.1"],
                ip("198.51.100.1"),
            ),
            (
                "two proxies",
                Some("10.0.0.2"),
                &["198.51.100.1, 10.1.1.1"],
                ip("198.51.100.1"),
            ),
            (
                "several headers are one list",
                Some("10.0.0.2"),
                &["6.6.6.6", "198.51.100.1"],
                ip("198.51.100.1"),
            ),
            (
                "IPv6 and ports",
                Some("::1"),
                &["[2001:db8::7]:4711"],
                ip("2001:db8::7"),
            ),
            (
                "only proxies: the farthest",
                Some("10.0.0.2"),
                &["10.9.9.9, 10.1.1.1"],
                ip("10.9.9.9"),
            ),
            (
                "no header: the proxy itself",
                Some("10.0.0.2"),
                &[],
                ip("10.0.0.2"),
            ),
            (
                "garbage: unknown",
                Some("10.0.0.2"),
                &["198.51.100.1, not-an-ip"],
                None,
            ),
            ("no peer: unknown", None, &["198.51.100.1"], None),
        ];
        for (name, peer, xff, want) in cases {
            let peer = peer.map(|p| p.parse().unwrap());
            assert_eq!(client_ip(peer, &headers(xff), &proxies), *want, "{name}");
        }
    }

    #[test]
    fn verdicts() {
        let locations = Locations::default();
        let names = [Value::from("outside-office")];
        assert_eq!(locations.check(&names, ip("198.51.100.1")), Verdict::Unknown);
        let rules: LocationRules = serde_json::from_value(serde_json::json!({
            "namedLocations": [{"id": "office", "displayName": "Office", "ipRanges": ["203.0.113.0/24"], "isTrusted": true}],
            "policies": [{"id": "outside-office", "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}}]
        }))
        .unwrap();
        assert_eq!(locations.load(&rules), Ok(1));
        assert_eq!(locations.check(&names, ip("203.0.113.8")), Verdict::Inside);
        assert_eq!(
            locations.check(&names, ip("198.51.100.1")),
            Verdict::Outside {
                policy: "outside-office".into(),
                ip: ip("198.51.100.1")
            }
        );
        assert!(matches!(
            locations.check(&names, None),
            Verdict::Outside { ip: None, .. }
        ));
        // A policy the API does not know enforces nothing (and makes it fetch again).
        assert_eq!(
            locations.check(&[Value::from("new")], ip("198.51.100.1")),
            Verdict::Inside
        );
        assert!(locations.should_report("s1", "198.51.100.1".parse().unwrap()));
        assert!(!locations.should_report("s1", "198.51.100.1".parse().unwrap()));
        assert!(locations.should_report("s1", "198.51.100.2".parse().unwrap()));
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }
}
