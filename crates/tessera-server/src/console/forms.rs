//! Submitted forms and the field errors shown beside their inputs.

use tessera_directory::FieldError;

/// A submitted form: every name/value pair in order (checkbox groups repeat a name).
#[derive(Debug, Clone, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// Parses `application/x-www-form-urlencoded`.
    #[must_use]
    pub fn parse(body: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// From pairs.
    #[must_use]
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// Every pair.
    #[must_use]
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The first value of `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, or empty.
    #[must_use]
    pub fn text(&self, name: &str) -> &str {
        self.get(name).map_or("", str::trim)
    }

    /// The value of `name` trimmed, `None` when empty.
    #[must_use]
    pub fn optional(&self, name: &str) -> Option<String> {
        Some(self.text(name)).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    /// Every value of `name` (a checkbox group), without empty ones.
    #[must_use]
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    /// The non-empty lines (or comma-separated items) of a text area.
    #[must_use]
    pub fn lines(&self, name: &str) -> Vec<String> {
        self.text(name)
            .split(['\n', ','])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Whether a checkbox is ticked (or a group contains `value`).
    #[must_use]
    pub fn has(&self, name: &str, value: &str) -> bool {
        self.0.iter().any(|(k, v)| k == name && v == value)
    }

    /// Sets `name` to `value`, replacing what was there.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.retain(|(k, _)| k != name);
        self.0.push((name.to_owned(), value.into()));
    }

    /// Adds a value to `name`.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((name.to_owned(), value.into()));
    }
}

/// Problems with a submitted form, by field.
#[derive(Debug, Clone, Default)]
pub struct FormErrors(pub Vec<FieldError>);

impl FormErrors {
    /// No problems.
    #[must_use]
    pub fn none() -> Self {
        Self(Vec::new())
    }

    /// One problem.
    #[must_use]
    pub fn one(field: &str, message: impl Into<String>) -> Self {
        Self(vec![FieldError::new(field, message)])
    }

    /// Whether there are any.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The status of a page showing these: `422` when there are any, else `200`.
    #[must_use]
    pub fn status(&self) -> axum::http::StatusCode {
        if self.is_empty() {
            axum::http::StatusCode::OK
        } else {
            axum::http::StatusCode::UNPROCESSABLE_ENTITY
        }
    }

    /// The problem with `field`: its own name, or the last part of a JSON path
    /// (`conditions.users.includeUsers` is `includeUsers`; `ip_ranges[1]` is `ip_ranges`).
    #[must_use]
    pub fn of(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|e| {
                let base = e.field.split('[').next().unwrap_or_default();
                base == field || base.rsplit('.').next() == Some(field)
            })
            .map(|e| e.message.as_str())
    }

    /// Every problem as `field: message`, for the summary above a form.
    #[must_use]
    pub fn list(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    /// Every problem in one sentence.
    #[must_use]
    pub fn summary(&self) -> String {
        tessera_directory::summary(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_groups_lines_and_blanks() {
        let f = Fields::parse(b"a=+x+&g=1&g=&g=2&t=one%0D%0Atwo,+three&c=on");
        assert_eq!(f.text("a"), "x");
        assert_eq!(f.all("g"), ["1", "2"]);
        assert_eq!(f.lines("t"), ["one", "two", "three"]);
        assert!(f.has("c", "on"));
        assert_eq!(f.optional("missing"), None);
    }

    #[test]
    fn errors_match_paths_by_their_last_part() {
        let e = FormErrors(vec![
            FieldError::new("conditions.users.includeUsers", "unknown user"),
            FieldError::new("ip_ranges[1]", "not a CIDR range"),
        ]);
        assert_eq!(e.of("includeUsers"), Some("unknown user"));
        assert_eq!(e.of("ip_ranges"), Some("not a CIDR range"));
        assert_eq!(e.of("users"), None);
    }
}
