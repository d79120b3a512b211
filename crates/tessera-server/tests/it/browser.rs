//! A minimal browser (a cookie jar, forms read from the page) and an OAuth client for the
//! authorization-code flow, over the in-process server.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tessera_jose::dpop::{ProofOptions, create_proof};
use tessera_jose::{Algorithm, SigningKey, SystemClock, SystemRandom, b64};

use crate::support::{Reply, Server, token_request};

pub struct Browser<'s> {
    pub server: &'s Server,
    pub jar: HashMap<String, String>,
}

impl<'s> Browser<'s> {
    pub fn new(server: &'s Server) -> Self {
        Self {
            server,
            jar: HashMap::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn absorb(&mut self, reply: &Reply) {
        for v in reply.headers.get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (k, val) = pair.split_once('=').unwrap();
            if val.is_empty() || v.contains("Max-Age=0") {
                self.jar.remove(k);
            } else {
                self.jar.insert(k.to_owned(), val.to_owned());
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        let r = Request::get(path)
            .header("cookie", self.cookie_header())
            .body(Body::empty())
            .unwrap();
        let reply = self.server.send(r).await;
        self.absorb(&reply);
        reply
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let r = Request::post(path)
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        let reply = self.server.send(r).await;
        self.absorb(&reply);
        reply
    }

    /// Submits the page's form (its action and hidden fields) with `fields` added.
    pub async fn submit(&mut self, page: &Reply, fields: &[(&str, &str)]) -> Reply {
        let action = attr_after(&page.body, "<form method=\"post\" action=\"", "\"");
        let mut all: Vec<(String, String)> = hidden_fields(&page.body);
        all.extend(fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let refs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.post(&action, &refs).await
    }

    /// Follows 303s within the server; stops at a page or at a redirect elsewhere.
    pub async fn follow(&mut self, mut reply: Reply) -> Reply {
        for _ in 0..5 {
            if reply.status != StatusCode::SEE_OTHER || !reply.location().starts_with('/') {
                return reply;
            }
            let next = reply.location().to_owned();
            reply = self.get(&next).await;
        }
        reply
    }

    /// Opens `authorize_url`, signs in with the password if asked, and returns where the server
    /// finally sends the browser (a page, or a redirect to the client).
    pub async fn sign_in(&mut self, authorize_url: &str, username: &str, password: &str) -> Reply {
        let page = self.get(authorize_url).await;
        if page.status != StatusCode::OK || !page.body.contains("name=\"password\"") {
            return page;
        }
        let after = self
            .submit(&page, &[("username", username), ("password", password)])
            .await;
        self.follow(after).await
    }
}

fn attr_after(html: &str, start: &str, end: &str) -> String {
    let i = html.find(start).expect("marker in page") + start.len();
    let j = html[i..].find(end).unwrap() + i;
    unescape(&html[i..j])
}

pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[i + 27..];
        let name_end = rest.find('"').unwrap();
        let name = rest[..name_end].to_owned();
        let v = rest.find("value=\"").unwrap() + 7;
        let v_end = rest[v..].find('"').unwrap() + v;
        out.push((name, unescape(&rest[v..v_end])));
    }
    out
}

/// Decodes the entities an HTML escaper writes: named and decimal.
pub fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').unwrap() + i;
        let entity = &rest[i + 1..end];
        out.push(match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            e if e.starts_with("#x") => char::from_u32(u32::from_str_radix(&e[2..], 16).unwrap()).unwrap(),
            e => char::from_u32(e[1..].parse().unwrap()).unwrap(),
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The query parameters of a URL.
pub fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

/// A client's PKCE pair and DPoP key.
pub struct Client {
    pub id: String,
    pub redirect_uri: String,
    pub verifier: String,
    pub key: SigningKey,
}

impl Client {
    pub fn new(id: &str, redirect_uri: &str) -> Self {
        Self {
            id: id.into(),
            redirect_uri: redirect_uri.into(),
            verifier: format!("verifier-{}", "v".repeat(40)),
            key: SigningKey::generate(Algorithm::Es256).unwrap(),
        }
    }

    pub fn challenge(&self) -> String {
        b64::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            self.verifier.as_bytes(),
        ))
    }

    pub fn authorize_url(&self, extra: &str) -> String {
        format!(
            "/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid%20profile%20email%20offline_access&state=st-1&nonce=n-1&code_challenge={}&code_challenge_method=S256{extra}",
            self.id,
            urlencode(&self.redirect_uri),
            self.challenge()
        )
    }

    pub fn proof(&self, htu: &str, access_token: Option<&str>) -> String {
        self.proof_by(&self.key, htu, access_token)
    }

    pub fn proof_by(&self, key: &SigningKey, htu: &str, access_token: Option<&str>) -> String {
        create_proof(
            key,
            if htu.ends_with("/userinfo") { "GET" } else { "POST" },
            htu,
            ProofOptions {
                access_token,
                ..ProofOptions::default()
            },
            &SystemClock,
            &SystemRandom,
        )
        .unwrap()
    }

    /// Redeems a code; with a DPoP proof when `dpop`.
    pub async fn redeem(&self, server: &Server, code: &str, dpop: bool) -> Reply {
        let body = format!(
            "grant_type=authorization_code&client_id={}&code={code}&redirect_uri={}&code_verifier={}",
            self.id,
            urlencode(&self.redirect_uri),
            self.verifier
        );
        let proof = self.proof(&format!("{}/token", crate::support::ISSUER), None);
        let headers: Vec<(&str, &str)> = if dpop { vec![("dpop", &proof)] } else { vec![] };
        server.send(token_request(&body, &headers)).await
    }

    /// Refreshes with the given DPoP header, made however the test likes.
    pub async fn refresh_with_proof(&self, server: &Server, refresh_token: &str, proof: &str) -> Reply {
        let body = format!(
            "grant_type=refresh_token&client_id={}&refresh_token={}",
            self.id,
            urlencode(refresh_token)
        );
        server.send(token_request(&body, &[("dpop", proof)])).await
    }

    pub async fn refresh(&self, server: &Server, refresh_token: &str, dpop: Option<&SigningKey>) -> Reply {
        let body = format!(
            "grant_type=refresh_token&client_id={}&refresh_token={}",
            self.id,
            urlencode(refresh_token)
        );
        let proof = dpop.map(|k| self.proof_by(k, &format!("{}/token", crate::support::ISSUER), None));
        let headers: Vec<(&str, &str)> = proof.iter().map(|p| ("dpop", p.as_str())).collect();
        server.send(token_request(&body, &headers)).await
    }
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
