//! Comparing a proof's `htu` with the request URI (RFC 9449 §4.3 check 9): query and fragment
//! are ignored; scheme and host compare case-insensitively; a default port equals no port; and
//! the path is compared after RFC 3986 §6.2.2 normalisation (dot segments removed,
//! percent-encodings of unreserved characters decoded, other percent-encodings upper-cased).

use url::Url;

/// The `htu` or request URI is not an absolute http(s) URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an absolute http(s) URI")]
pub struct HtuError;

/// The comparable form of an HTTP URI: `scheme://host[:port]/path`, without query or
/// fragment, normalised.
///
/// # Errors
/// [`HtuError`] when `uri` is not an absolute `http` or `https` URI with a host.
pub fn normalize_htu(uri: &str) -> Result<String, HtuError> {
    let url = Url::parse(uri).map_err(|_| HtuError)?;
    if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() || url.password().is_some() {
        return Err(HtuError);
    }
    let host = url.host_str().ok_or(HtuError)?;
    let mut out = String::with_capacity(uri.len());
    out.push_str(url.scheme());
    out.push_str("://");
    out.push_str(host);
    if let Some(port) = url.port() {
        // `Url::port` is already `None` for the scheme's default port.
        out.push(':');
        out.push_str(&port.to_string());
    }
    normalize_path(url.path(), &mut out);
    Ok(out)
}

fn normalize_path(path: &str, out: &mut String) {
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            let c = h << 4 | l;
            if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(c));
            } else {
                out.push('%');
                out.push(char::from(bytes[i + 1].to_ascii_uppercase()));
                out.push(char::from(bytes[i + 2].to_ascii_uppercase()));
            }
            i += 3;
            continue;
        }
        out.push(char::from(bytes[i]));
        i += 1;
    }
}

const fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_after_normalisation() {
        let want = normalize_htu("https://server.example.com/token").unwrap();
        for same in [
            "https://server.example.com/token",
            "HTTPS://Server.Example.COM/token",
            "https://server.example.com:443/token",
            "https://server.example.com/token?x=1",
            "https://server.example.com/token#frag",
            "https://server.example.com/a/../token",
            "https://server.example.com/%74oken",
        ] {
            assert_eq!(normalize_htu(same).unwrap(), want, "{same}");
        }
        assert_eq!(normalize_htu("http://h").unwrap(), "http://h/");
        assert_eq!(normalize_htu("http://h:80/").unwrap(), "http://h/");
        assert_eq!(normalize_htu("https://h/a%2fb").unwrap(), "https://h/a%2Fb");
    }

    #[test]
    fn different_after_normalisation() {
        let want = normalize_htu("https://server.example.com/token").unwrap();
        for other in [
            "http://server.example.com/token",
            "https://server.example.com:8443/token",
            "https://server.example.com/Token",
            "https://server.example.com/token/",
            "https://other.example.com/token",
        ] {
            assert_ne!(normalize_htu(other).unwrap(), want, "{other}");
        }
    }

    #[test]
    fn refuses_non_http_and_relative() {
        for bad in [
            "/token",
            "ftp://h/x",
            "urn:x",
            "",
            "https://user:pw@h/x",
            "javascript:alert(1)",
        ] {
            assert_eq!(normalize_htu(bad), Err(HtuError), "{bad}");
        }
    }
}
