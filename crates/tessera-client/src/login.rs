//! The sign-in pages without a browser (a cookie jar and the pages' forms), and the loopback
//! redirect listener of RFC 8252.

use std::collections::HashMap;

use reqwest::{StatusCode, header};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{ClientError, http};

/// A page or a redirect.
struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

/// A cookie jar over the IdP's pages.
pub(crate) struct Browser<'a> {
    http: &'a reqwest::Client,
    issuer: &'a str,
    jar: HashMap<String, String>,
}

impl<'a> Browser<'a> {
    pub(crate) fn new(http: &'a reqwest::Client, issuer: &'a str) -> Self {
        Self {
            http,
            issuer,
            jar: HashMap::new(),
        }
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            let base = url::Url::parse(self.issuer)
                .map_or_else(|_| self.issuer.to_owned(), |u| u.origin().ascii_serialization());
            format!("{base}{url}")
        } else {
            url.to_owned()
        }
    }

    async fn fetch(&mut self, request: reqwest::RequestBuilder) -> Result<Page, ClientError> {
        let cookies = self
            .jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = request
            .header(header::COOKIE, cookies)
            .send()
            .await
            .map_err(http)?;
        for v in response.headers().get_all(header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let Some((name, value)) = v.split(';').next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            if value.is_empty() || v.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.map_err(http)?;
        Ok(Page {
            status,
            location,
            body,
        })
    }

    /// Goes through the pages from `authorize_url` until the IdP redirects to `redirect_uri`;
    /// returns that redirect's query.
    pub(crate) async fn sign_in(
        &mut self,
        authorize_url: &str,
        redirect_uri: &str,
        username: &str,
        password: &str,
        otp: Option<&(dyn Fn() -> String + Sync)>,
    ) -> Result<HashMap<String, String>, ClientError> {
        let (query, _) = self
            .follow_to(authorize_url, redirect_uri, username, password, otp)
            .await?;
        Ok(query)
    }

    /// As [`Browser::sign_in`], also returning the final redirect URL.
    pub(crate) async fn follow_to(
        &mut self,
        authorize_url: &str,
        redirect_uri: &str,
        username: &str,
        password: &str,
        otp: Option<&(dyn Fn() -> String + Sync)>,
    ) -> Result<(HashMap<String, String>, String), ClientError> {
        let mut page = self.fetch(self.http.get(authorize_url)).await?;
        for _ in 0..10 {
            if page.status.is_redirection() {
                let to = page.location.clone().unwrap_or_default();
                if to.starts_with(redirect_uri) {
                    return Ok((query_of(&to), to));
                }
                page = self.fetch(self.http.get(self.absolute(&to))).await?;
                continue;
            }
            if !page.status.is_success() {
                return Err(ClientError::SignIn(message_of(&page.body, page.status)));
            }
            let fields: Vec<(String, String)> = if page.body.contains("name=\"password\"") {
                vec![
                    ("username".into(), username.into()),
                    ("password".into(), password.into()),
                ]
            } else if page.body.contains("name=\"code\"") {
                let Some(otp) = otp else {
                    return Err(ClientError::SignIn(
                        "the IdP asks for a one-time code and none was given".into(),
                    ));
                };
                vec![("code".into(), otp())]
            } else {
                return Err(ClientError::SignIn(message_of(&page.body, page.status)));
            };
            let action = between(&page.body, "<form method=\"post\" action=\"", "\"")
                .ok_or_else(|| ClientError::SignIn("the sign-in page has no form".into()))?;
            let mut all = hidden_fields(&page.body);
            all.extend(fields);
            let request = self.http.post(self.absolute(&unescape(&action))).form(&all);
            page = self.fetch(request).await?;
        }
        Err(ClientError::SignIn("the sign-in went round in circles".into()))
    }
}

fn between(html: &str, start: &str, end: &str) -> Option<String> {
    let i = html.find(start)? + start.len();
    let j = html[i..].find(end)? + i;
    Some(html[i..j].to_owned())
}

/// What a page says went wrong: its alert, or its first paragraph.
fn message_of(html: &str, status: StatusCode) -> String {
    between(html, "role=\"alert\">", "<")
        .or_else(|| between(html, "class=\"lead\">", "<"))
        .or_else(|| between(html, "<p>", "<"))
        .map_or_else(|| format!("the IdP answered {status}"), |m| unescape(m.trim()))
}

fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[i + 27..];
        let Some(name_end) = rest.find('"') else { break };
        let name = rest[..name_end].to_owned();
        let value = between(rest, "value=\"", "\"").unwrap_or_default();
        out.push((name, unescape(&value)));
    }
    out
}

/// Decodes the entities an HTML escaper writes.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let Some(len) = rest[i..].find(';') else { break };
        let entity = &rest[i + 1..i + len];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e => e
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| e.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(&rest[i..=i + len]),
        }
        rest = &rest[i + len + 1..];
    }
    out.push_str(rest);
    out
}

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// The authorization code of a redirect's query, after checking `state` and errors.
pub(crate) fn code_from(query: &HashMap<String, String>, state: &str) -> Result<String, ClientError> {
    if let Some(error) = query.get("error") {
        return Err(ClientError::SignIn(format!(
            "{error}: {}",
            query.get("error_description").map_or("", String::as_str)
        )));
    }
    if query.get("state").map(String::as_str) != Some(state) {
        return Err(ClientError::SignIn(
            "the redirect's state does not match this sign-in".into(),
        ));
    }
    query
        .get("code")
        .cloned()
        .ok_or_else(|| ClientError::SignIn("the redirect has no code".into()))
}

/// Accepts connections on the loopback listener until one is a GET of `/callback`; answers
/// it with a page telling the user to go back to the app; returns its query.
pub(crate) async fn one_redirect(
    listener: &tokio::net::TcpListener,
) -> Result<HashMap<String, String>, ClientError> {
    loop {
        let (mut socket, _) = listener.accept().await.map_err(http)?;
        let mut buf = vec![0u8; 8192];
        let mut len = 0;
        while len < buf.len() {
            let n = socket.read(&mut buf[len..]).await.map_err(http)?;
            if n == 0 {
                break;
            }
            len += n;
            if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let head = String::from_utf8_lossy(&buf[..len]);
        let target = head
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("GET "))
            .and_then(|l| l.split(' ').next())
            .unwrap_or("");
        if !target.starts_with("/callback") {
            let _ = socket
                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await;
            continue;
        }
        let page =
            "<!doctype html><title>Signed in</title><p>You can close this window and return to the app.</p>";
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
            page.len()
        );
        let _ = socket.write_all(answer.as_bytes()).await;
        return Ok(query_of(&format!("http://127.0.0.1{target}")));
    }
}
