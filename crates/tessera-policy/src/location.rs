//! Named locations and the index that finds, for an IP address, every location containing it.
//!
//! The index keeps one hash map per prefix length in use, from masked network to the locations
//! with that prefix. Looking an address up costs one hash probe per distinct prefix length
//! (typically a handful), whatever the number of ranges. IPv4-mapped IPv6 addresses are
//! looked up as IPv4.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::decision::{ConditionCheck, Reason};
use crate::model::{LocationId, LocationsCondition, PolicyId};
use crate::validate::{ValidationError, validate_locations};

/// A named location: IP ranges, optionally trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamedLocation {
    /// Its id.
    pub id: LocationId,
    /// A name for people.
    pub display_name: String,
    /// IPv4 and IPv6 ranges in CIDR notation.
    pub ip_ranges: Vec<IpNet>,
    /// Whether it counts as trusted (`AllTrusted`).
    #[serde(default)]
    pub is_trusted: bool,
}

#[derive(Debug, Default, Clone)]
struct Family {
    /// (prefix length, masked network) → location indices; lengths kept sorted, longest first.
    by_len: Vec<(u8, HashMap<u128, Vec<u16>>)>,
}

impl Family {
    fn insert(&mut self, len: u8, network: u128, loc: u16) {
        let pos = match self.by_len.iter().position(|(l, _)| *l <= len) {
            Some(i) if self.by_len[i].0 == len => i,
            Some(i) => {
                self.by_len.insert(i, (len, HashMap::new()));
                i
            }
            None => {
                self.by_len.push((len, HashMap::new()));
                self.by_len.len() - 1
            }
        };
        let locs = self.by_len[pos].1.entry(network).or_default();
        if !locs.contains(&loc) {
            locs.push(loc);
        }
    }

    fn lookup(&self, addr: u128, out: &mut Vec<u16>) {
        for (len, map) in &self.by_len {
            if let Some(locs) = map.get(&mask(addr, *len)) {
                out.extend_from_slice(locs);
            }
        }
    }
}

/// Keeps the first `len` bits. Addresses are stored left-aligned in 128 bits, so one mask
/// serves both families.
fn mask(addr: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        addr & (u128::MAX << (128 - u32::from(len.min(128))))
    }
}

/// The address left-aligned in 128 bits, and whether it is IPv4 (or IPv4-mapped).
fn left_aligned(ip: IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, true),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => (u128::from(u32::from(v4)) << 96, true),
            None => (u128::from(v6), false),
        },
    }
}

/// The compiled form of a set of named locations.
#[derive(Debug, Clone, Default)]
pub struct LocationIndex {
    v4: Family,
    v6: Family,
    ids: Vec<LocationId>,
    trusted: Vec<bool>,
}

impl LocationIndex {
    /// Builds the index. Locations keep their position as their index; validation refuses
    /// more than 65,535 locations, so every one fits.
    #[must_use]
    pub fn new(locations: &[NamedLocation]) -> Self {
        let mut index = Self::default();
        for (i, loc) in locations.iter().enumerate().take(usize::from(u16::MAX)) {
            let i = u16::try_from(i).unwrap_or(u16::MAX);
            index.ids.push(loc.id.clone());
            index.trusted.push(loc.is_trusted);
            for net in &loc.ip_ranges {
                let net = net.trunc();
                let (addr, v4) = left_aligned(net.network());
                // An IPv4-mapped IPv6 range is an IPv4 range.
                let len = if v4 && matches!(net, IpNet::V6(_)) {
                    net.prefix_len().saturating_sub(96)
                } else {
                    net.prefix_len()
                };
                let family = if v4 { &mut index.v4 } else { &mut index.v6 };
                family.insert(len, mask(addr, len), i);
            }
        }
        index
    }

    /// Indices of every location that contains `ip`, sorted, without duplicates.
    #[must_use]
    pub fn matching(&self, ip: IpAddr) -> Vec<u16> {
        let (addr, v4) = left_aligned(ip);
        let mut out = Vec::new();
        if v4 { &self.v4 } else { &self.v6 }.lookup(addr, &mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The index of a location id.
    #[must_use]
    pub fn position(&self, id: &str) -> Option<u16> {
        self.ids
            .iter()
            .position(|l| l.as_str() == id)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// The id at an index.
    #[must_use]
    pub fn id(&self, index: u16) -> Option<&LocationId> {
        self.ids.get(usize::from(index))
    }

    /// Whether the location at `index` is trusted.
    #[must_use]
    pub fn is_trusted(&self, index: u16) -> bool {
        self.trusted.get(usize::from(index)).copied().unwrap_or(false)
    }
}

/// A policy's locations condition, compiled against a [`LocationIndex`].
#[derive(Debug, Clone)]
pub(crate) struct LocationRule {
    include_all: bool,
    include_trusted: bool,
    include: Vec<u16>,
    exclude_trusted: bool,
    exclude: Vec<u16>,
}

impl LocationRule {
    /// Compiles `condition`; ids not in `index` match nothing (validation refuses them).
    pub(crate) fn compile(condition: &LocationsCondition, index: &LocationIndex) -> Self {
        let ids = |v: &[String]| v.iter().filter_map(|id| index.position(id)).collect::<Vec<_>>();
        Self {
            include_all: condition.include_locations.iter().any(|s| s == "All"),
            include_trusted: condition.include_locations.iter().any(|s| s == "AllTrusted"),
            include: ids(&condition.include_locations),
            exclude_trusted: condition.exclude_locations.iter().any(|s| s == "AllTrusted"),
            exclude: ids(&condition.exclude_locations),
        }
    }

    /// The verdict for an address inside `in_locations` (from [`LocationIndex::matching`]):
    /// exclusions win, then explicit inclusions, then `AllTrusted`, then `All`.
    pub(crate) fn check(&self, index: &LocationIndex, in_locations: &[u16]) -> ConditionCheck {
        if let Some(l) = in_locations.iter().find(|l| self.exclude.contains(l)) {
            return ConditionCheck::no(Reason::InExcludedLocation(*l));
        }
        let trusted = in_locations.iter().find(|l| index.is_trusted(**l)).copied();
        if let (true, Some(t)) = (self.exclude_trusted, trusted) {
            return ConditionCheck::no(Reason::InExcludedTrustedLocation(t));
        }
        if let Some(l) = in_locations.iter().find(|l| self.include.contains(l)) {
            return ConditionCheck::yes(Reason::InLocation(*l));
        }
        if let (true, Some(t)) = (self.include_trusted, trusted) {
            return ConditionCheck::yes(Reason::InTrustedLocation(t));
        }
        if self.include_all {
            return ConditionCheck::yes(Reason::AnyLocation);
        }
        ConditionCheck::no(Reason::LocationNotIncluded)
    }
}

/// One enabled policy's locations condition, as the IdP hands it to an API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocationPolicy {
    /// The policy.
    pub id: PolicyId,
    /// Its name, for logs.
    #[serde(default)]
    pub display_name: String,
    /// Its locations condition.
    pub locations: LocationsCondition,
}

/// What an API needs to enforce location policy itself: the named locations, and the locations
/// condition of every enabled policy that has one. A token names the policies that did not
/// apply at issuance only because of where the client was (its `location_policies` claim); the
/// API asks, for the address it sees, whether one of them would apply now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocationRules {
    /// Named locations.
    pub named_locations: Vec<NamedLocation>,
    /// Policies with a locations condition.
    pub policies: Vec<LocationPolicy>,
}

/// [`LocationRules`] compiled for lookups on every request.
#[derive(Debug, Clone, Default)]
pub struct LocationEnforcer {
    index: LocationIndex,
    rules: HashMap<PolicyId, LocationRule>,
}

impl LocationEnforcer {
    /// Compiles `rules`.
    ///
    /// # Errors
    /// Every problem found: invalid named locations, a policy naming a location that is not
    /// among them.
    pub fn new(rules: &LocationRules) -> Result<Self, Vec<ValidationError>> {
        let mut errs = validate_locations(&rules.named_locations);
        let index = LocationIndex::new(&rules.named_locations);
        for (i, p) in rules.policies.iter().enumerate() {
            let names = p
                .locations
                .include_locations
                .iter()
                .chain(&p.locations.exclude_locations);
            for name in names {
                if name != "All" && name != "AllTrusted" && index.position(name).is_none() {
                    errs.push(ValidationError::new(
                        format!("policies[{i}].locations"),
                        format!("unknown named location {name:?}"),
                    ));
                }
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        let rules = rules
            .policies
            .iter()
            .map(|p| (p.id.clone(), LocationRule::compile(&p.locations, &index)))
            .collect();
        Ok(Self { index, rules })
    }

    /// Whether the locations condition of `policy` matches `ip`, that is whether the policy
    /// would apply from there as far as location goes; `None` for a policy not in the rules.
    #[must_use]
    pub fn applies(&self, policy: &str, ip: IpAddr) -> Option<bool> {
        let rule = self.rules.get(policy)?;
        Some(rule.check(&self.index, &self.index.matching(ip)).matched)
    }

    /// How many policies it knows.
    #[must_use]
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether it knows no policy.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(id: &str, ranges: &[&str], trusted: bool) -> NamedLocation {
        NamedLocation {
            id: id.into(),
            display_name: id.into(),
            ip_ranges: ranges.iter().map(|r| r.parse().unwrap()).collect(),
            is_trusted: trusted,
        }
    }

    #[test]
    fn finds_every_containing_location_v4_and_v6() {
        let index = LocationIndex::new(&[
            loc("office", &["203.0.113.0/24", "2001:db8:1::/48"], true),
            loc("building", &["203.0.113.128/25"], true),
            loc("country", &["203.0.0.0/16"], false),
            loc("everywhere", &["0.0.0.0/0", "::/0"], false),
        ]);
        let ids = |ip: &str| -> Vec<&str> {
            index
                .matching(ip.parse().unwrap())
                .into_iter()
                .map(|i| index.id(i).unwrap().as_str())
                .collect()
        };
        assert_eq!(
            ids("203.0.113.200"),
            ["office", "building", "country", "everywhere"]
        );
        assert_eq!(ids("203.0.113.5"), ["office", "country", "everywhere"]);
        assert_eq!(ids("203.0.1.1"), ["country", "everywhere"]);
        assert_eq!(ids("198.51.100.1"), ["everywhere"]);
        assert_eq!(ids("2001:db8:1:ffff::1"), ["office", "everywhere"]);
        assert_eq!(ids("2001:db8:2::1"), ["everywhere"]);
        // IPv4-mapped IPv6 is treated as the IPv4 address.
        assert_eq!(
            ids("::ffff:203.0.113.200"),
            ["office", "building", "country", "everywhere"]
        );
    }

    #[test]
    fn host_bits_in_a_range_are_ignored_and_edges_hold() {
        let index = LocationIndex::new(&[
            loc("a", &["10.1.2.3/8"], false),
            loc("h", &["192.0.2.7/32"], false),
        ]);
        assert_eq!(index.matching("10.255.255.255".parse().unwrap()), [0]);
        assert!(index.matching("11.0.0.0".parse().unwrap()).is_empty());
        assert_eq!(index.matching("192.0.2.7".parse().unwrap()), [1]);
        assert!(index.matching("192.0.2.8".parse().unwrap()).is_empty());
    }
}
