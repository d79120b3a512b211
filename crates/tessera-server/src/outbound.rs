//! Where Tessera may send requests that someone else chose the address of (a receiver's push
//! endpoint). Such an address must not reach the machine itself, its neighbours on a private
//! network, or a cloud metadata service: a receiver could otherwise make Tessera post (with a
//! header the receiver chose) to Tessera's own admin API, or probe ports and learn from the
//! outcome which answer.
//!
//! An address is refused when it is loopback, unspecified, link-local (metadata services),
//! private (RFC 1918), shared (RFC 6598), unique-local or site-local IPv6, multicast, broadcast
//! or reserved; IPv4-mapped, IPv4-compatible and NAT64 IPv6 addresses are judged by the IPv4
//! address inside. URL parsing (WHATWG) turns `127.1`, `2130706433` and `0x7f.1` into
//! `127.0.0.1` before the check. Names are resolved and every address must pass (a name that
//! does not resolve yet is taken, and names reserved for examples are not looked up); the same
//! check runs again on the addresses the connection actually uses (a resolver for the HTTP
//! client), so a name that changes its answer after registration gains nothing. Networks the
//! operator lists in `ssf.push_allowed_networks` are allowed, for development.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

/// Why an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not an http(s) URL with a host, or it carries credentials.
    #[error("{0}")]
    Malformed(&'static str),
    /// The host is, or resolves to, an address Tessera does not send to.
    #[error(
        "its host is {what} address; Tessera pushes only to public addresses unless the operator allows the network (ssf.push_allowed_networks)"
    )]
    Internal {
        /// What kind of address.
        what: &'static str,
    },
}

/// The rule: refuse internal addresses, except the networks the operator allows.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    allowed: Arc<Vec<IpNet>>,
}

impl Destinations {
    /// Allowing `allowed` besides public addresses.
    #[must_use]
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self {
            allowed: Arc::new(allowed),
        }
    }

    /// The HTTP client for requests to such addresses (SSF push, back-channel logout): it
    /// connects only where this rule allows, through no proxy, follows no redirect, and gives
    /// up after `timeout`.
    ///
    /// # Errors
    /// When the TLS backend cannot start.
    pub fn client(&self, timeout: std::time::Duration) -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            // Every connection goes where the destination rule allows, never through a proxy
            // that would make the choice for it.
            .no_proxy()
            .dns_resolver(self.resolver())
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .build()
    }

    /// Whether Tessera may connect to `ip`.
    ///
    /// # Errors
    /// [`Refused::Internal`] naming the kind of address.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        if self.allowed.iter().any(|n| n.contains(&ip)) {
            return Ok(());
        }
        match internal(ip) {
            Some(what) => Err(Refused::Internal { what }),
            None => Ok(()),
        }
    }

    /// Checks `url` before it is stored: its form, and every address its host is or resolves
    /// to (without connecting).
    ///
    /// # Errors
    /// [`Refused`].
    pub async fn check_url(&self, url: &str) -> Result<(), Refused> {
        let url = parse(url)?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(Refused::Malformed("must be an https URL"));
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let Some(host) = url.host() else {
            return Err(Refused::Malformed("has no host"));
        };
        match (literal_address(&host), host) {
            (Some(ip), _) => self.check_ip(ip),
            // Names reserved for examples and tests (RFC 6761) are never in the DNS: no query.
            (None, url::Host::Domain(name)) if is_reserved_example(name) => Ok(()),
            (None, url::Host::Domain(name)) => match tokio::net::lookup_host((name, port)).await {
                Ok(addrs) => addrs.into_iter().try_for_each(|a| self.check_ip(a.ip())),
                // Not resolvable now (not yet in the DNS, or the DNS is down): the resolver
                // checks whatever it resolves to when a push connects.
                Err(_) => Ok(()),
            },
            (None, _) => Ok(()),
        }
    }

    /// Checks the host of a stored URL just before a request, where the host is an address
    /// (names are checked by [`Self::resolver`] as they are resolved).
    ///
    /// # Errors
    /// [`Refused`].
    pub fn check_before_sending(&self, url: &str) -> Result<(), Refused> {
        let url = parse(url)?;
        match url.host() {
            None => Err(Refused::Malformed("has no host")),
            Some(host) => literal_address(&host).map_or(Ok(()), |ip| self.check_ip(ip)),
        }
    }

    /// A resolver for the HTTP client that keeps only addresses this rule allows, so a
    /// connection never goes to an internal address whatever the name resolves to now.
    #[must_use]
    pub fn resolver(&self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver { rule: self.clone() })
    }
}

/// See [`Destinations::resolver`].
#[derive(Debug)]
pub struct GuardedResolver {
    rule: Destinations,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let rule = self.rule.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            if is_localhost(&host) {
                rule.check_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            }
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| rule.check_ip(a.ip()).is_ok())
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "the host resolves only to addresses Tessera does not send to",
                )) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// `url` parsed, refused when it carries credentials.
fn parse(url: &str) -> Result<url::Url, Refused> {
    let url = url::Url::parse(url).map_err(|_| Refused::Malformed("is not a URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused::Malformed(
            "must not carry credentials; give them in authorization_header",
        ));
    }
    Ok(url)
}

/// The address `host` names without a lookup: an IP literal, or a localhost name (RFC 6761:
/// loopback whatever a resolver says, and no query leaves the machine for it).
fn literal_address(host: &url::Host<&str>) -> Option<IpAddr> {
    match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(*ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(*ip)),
        url::Host::Domain(name) if is_localhost(name) => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        url::Host::Domain(_) => None,
    }
}

/// Names under `example`, `test` or `invalid` (RFC 6761 §6.2, 6.4, 6.5).
fn is_reserved_example(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    ["example", "test", "invalid"]
        .iter()
        .any(|tld| name == *tld || name.ends_with(&format!(".{tld}")))
}

/// `localhost`, `localhost.` and names under `.localhost` (RFC 6761 §6.3).
fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// What kind of internal address `ip` is, if it is one.
#[must_use]
pub fn internal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_loopback() => "a loopback",
        _ if ip.is_unspecified() || a == 0 => "an unspecified (\"this network\")",
        _ if ip.is_link_local() => "a link-local (cloud metadata)",
        _ if ip.is_private() => "a private",
        (100, 64..=127, _) => "a shared (carrier-grade NAT)",
        (192, 0, 0) => "an IETF protocol",
        (198, 18..=19, _) => "a benchmarking",
        _ if ip.is_broadcast() => "a broadcast",
        _ if ip.is_multicast() => "a multicast",
        (240..=255, _, _) => "a reserved",
        _ => return None,
    })
}

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // Addresses that carry an IPv4 address are judged by it.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    let s = ip.segments();
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_unspecified() && !ip.is_loopback() {
        // IPv4-compatible (deprecated) ::a.b.c.d
        return internal_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64: a gateway would take it to the IPv4 address inside.
        return internal_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    Some(match s[0] {
        _ if ip.is_loopback() => "a loopback",
        _ if ip.is_unspecified() => "an unspecified",
        x if x & 0xfe00 == 0xfc00 => "a unique-local",
        x if x & 0xffc0 == 0xfe80 => "a link-local",
        x if x & 0xffc0 == 0xfec0 => "a site-local",
        x if x & 0xff00 == 0xff00 => "a multicast",
        0x2001 if s[1] == 0x0db8 => "a documentation",
        0x0100 if s[1..4] == [0, 0, 0] => "a discard-only",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn internal_addresses_of_every_form_are_named() {
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "192.0.0.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.1.2.3",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2001:db8::1",
        ] {
            assert!(internal(ip.parse().unwrap()).is_some(), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(internal(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn the_operator_can_allow_a_network() {
        let rule = Destinations::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(rule.check_ip("127.0.0.1".parse().unwrap()).is_ok());
        assert!(rule.check_ip("10.0.0.1".parse().unwrap()).is_err());
    }
}
