//! Two `tessera serve` processes on one PostgreSQL database. Both take admin actions and push
//! SETs; one is killed with SIGKILL in the middle of the fan-out. Every event still reaches the
//! stream (the survivor takes over the dead node's claims when their lease runs out), and a
//! token the dead node issued keeps working at the survivor.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::durability::{create_ops_client, ops_token, receiver, start_with, wait_for};

const EVENTS: usize = 60;
const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

fn admin_url() -> String {
    std::env::var("TESSERA_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A database of its own for this test, dropped when done.
struct Database {
    name: String,
}

impl Database {
    fn create() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("tessera_nodes_{}_{nanos}", std::process::id());
        let out = Command::new("psql")
            .args([&admin_url(), "-qc", &format!("CREATE DATABASE {name}")])
            .output()
            .expect("psql must be installed for the multi-node test");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Self { name }
    }

    fn url(&self) -> String {
        let base = admin_url();
        let root = base.rsplit_once('/').map_or(base.as_str(), |(root, _)| root);
        format!("{root}/{}", self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                &admin_url(),
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_everything_and_a_killed_node_loses_nothing() {
    let db = Database::create();
    let url = db.url();
    let dir_a = crate::private_dir();
    let dir_b = crate::private_dir();
    // Both nodes seal and open the signing keys with one key-encryption key, as a deployment
    // hands every node the same secret.
    let shared = crate::private_dir();
    let kek = shared.path().join("key-encryption.key");
    for dir in [&dir_a, &dir_b] {
        std::fs::write(
            dir.path().join("tessera.toml"),
            format!(
                "[ssf]\npush_lease_seconds = 3\npush_timeout_seconds = 2\npush_allowed_networks = [\"127.0.0.0/8\"]\n[keys]\nencryption_key_file = {:?}\n",
                kek.display().to_string()
            ),
        )
        .unwrap();
    }
    // Both nodes name the same issuer, as behind one load balancer.
    let issuer = "http://127.0.0.1:8080";
    let args = ["--database-url", url.as_str(), "--issuer", issuer];
    let (mut a, base_a) = start_with(dir_a.path(), &args);
    let (mut b, base_b) = start_with(dir_b.path(), &args);

    let secret = create_ops_client(&["--database-url", &url]);
    let http = reqwest::Client::new();
    // The token comes from node A; node B accepts it (same keys, same database).
    let token = ops_token(&http, &base_a, &secret).await;
    let (endpoint, seen) = receiver().await;
    let stream = http
        .post(format!("{base_b}/ssf/streams"))
        .bearer_auth(&token)
        .json(&json!({
            "events_requested": [SESSION_REVOKED],
            "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": endpoint}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 201);

    // Admin actions at both nodes; both push workers claim deliveries.
    for i in 0..EVENTS {
        let base = if i % 2 == 0 { &base_a } else { &base_b };
        let r = http
            .post(format!("{base}/admin/api/users/admin/revoke-sessions"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
    wait_for("the first SETs", Duration::from_secs(20), || {
        seen.lock().unwrap().len() >= 10
    })
    .await;
    assert!(
        seen.lock().unwrap().values().all(|&n| n == 1),
        "while both nodes live, each SET goes out once: one node claims it"
    );
    a.kill().unwrap();
    a.wait().unwrap();
    let before = seen.lock().unwrap().len();
    assert!(
        before < EVENTS,
        "the kill came too late to prove anything ({before} delivered)"
    );

    wait_for(
        "every event at the surviving node",
        Duration::from_secs(30),
        || seen.lock().unwrap().len() == EVENTS,
    )
    .await;
    let counts = seen.lock().unwrap().clone();
    let twice = counts.values().filter(|&&n| n > 1).count();
    eprintln!(
        "{before} of {EVENTS} SETs delivered before node A was killed; all {EVENTS} by node B after; \
         {twice} delivered twice (at least once; the receiver applies each jti once)"
    );

    // The token node A issued still works at node B.
    let r = http
        .get(format!("{base_b}/admin/api/streams"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "a token from the dead node is accepted by the survivor"
    );
    b.kill().unwrap();
    b.wait().unwrap();
}
