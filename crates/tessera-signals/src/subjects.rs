//! Which events a stream carries, by subject: SSF `default_subjects` and per-stream subjects.

use tessera_jose::SubjectId;

/// Whether a stream starts with every subject or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultSubjects {
    /// Every subject until the receiver narrows it down (Tessera removes nothing implicitly).
    All,
    /// No subject until the receiver adds some.
    None,
}

/// Whether an event about `subject` goes to a stream with `default` and the explicitly
/// `added` subjects. A stream with added subjects carries exactly those. An added subject
/// matches the event's subject itself, any of its aliases, or the member of a complex subject
/// (`user`, `device`, `session`, …) that equals it.
#[must_use]
pub fn stream_wants(subject: &SubjectId, default: DefaultSubjects, added: &[SubjectId]) -> bool {
    if added.is_empty() {
        return default == DefaultSubjects::All;
    }
    let mut facets: Vec<&SubjectId> = vec![subject];
    match subject {
        SubjectId::Aliases { identifiers } => facets.extend(identifiers),
        SubjectId::Complex(c) => facets.extend(c.members().map(|(_, s)| s)),
        _ => {}
    }
    added.iter().any(|wanted| {
        let mut wanted_facets: Vec<&SubjectId> = vec![wanted];
        if let SubjectId::Aliases { identifiers } = wanted {
            wanted_facets.extend(identifiers);
        }
        facets.iter().any(|f| wanted_facets.contains(f))
    })
}
