//! Configuration: defaults, precedence, and refusals that name the setting.

use std::io::Write as _;

use tessera_server::{ConfigError, Overrides, ServerConfig};

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn defaults() {
    let c = ServerConfig::resolve(None, Overrides::default()).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.issuer, "http://127.0.0.1:8080");
    assert_eq!(c.database_url, "sqlite:tessera-data/tessera.db");
    assert_eq!(
        (c.tokens.access_token_minutes, c.tokens.cae_access_token_minutes),
        (60, 1440)
    );
}

#[test]
fn flags_win_over_the_file() {
    let f = file(
        "listen = \"127.0.0.1:9000\"\nissuer = \"https://id.example.com/\"\n[tokens]\naccess_token_minutes = 30\n",
    );
    let c = ServerConfig::resolve(
        Some(f.path()),
        Overrides {
            listen: Some("127.0.0.1:9100".into()),
            ..Overrides::default()
        },
    )
    .unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:9100");
    assert_eq!(c.issuer, "https://id.example.com", "trailing slash dropped");
    assert_eq!(c.tokens.access_token_minutes, 30);
    assert!(!format!("{c:?}").contains("hunter2"), "no secrets in Debug");
}

#[test]
fn refusals_name_the_setting() {
    let unknown = file("listen = \"127.0.0.1:9000\"\nlisten_port = 9\n");
    let err = ServerConfig::resolve(Some(unknown.path()), Overrides::default()).unwrap_err();
    assert!(
        matches!(err, ConfigError::Parse { .. }) && err.to_string().contains("listen_port"),
        "{err}"
    );
    // The new sections refuse what cannot work, naming the setting.
    for (text, setting) in [
        ("[http]\nidle_timeout_seconds = 20\n", "idle_timeout_seconds"),
        ("[http]\nheader_read_timeout_seconds = 0\n", "http"),
        ("[keys]\nencryption_key_command = []\n", "encryption_key_command"),
        (
            "[[ssf.transmitters]]\nissuer = \"mail-api\"\nevents = []\n",
            "events",
        ),
        (
            "[[ssf.transmitters]]\nissuer = \"mail-api\"\nevents = [\"https://example.com/made-up\"]\n",
            "made-up",
        ),
        (
            "[ssf]\npush_allowed_networks = [\"not a network\"]\n",
            "push_allowed_networks",
        ),
    ] {
        let f = file(text);
        let err = ServerConfig::resolve(Some(f.path()), Overrides::default()).unwrap_err();
        assert!(err.to_string().contains(setting), "{text}: {err}");
    }
    let nested = file("[tokens]\nrefresh_days = 3\n");
    assert!(
        ServerConfig::resolve(Some(nested.path()), Overrides::default())
            .unwrap_err()
            .to_string()
            .contains("refresh_days")
    );
    let missing = ServerConfig::resolve(
        Some(std::path::Path::new("/nonexistent/tessera.toml")),
        Overrides::default(),
    );
    assert!(matches!(missing, Err(ConfigError::Read { .. })));
    for (o, setting) in [
        (
            Overrides {
                listen: Some("localhost".into()),
                ..Overrides::default()
            },
            "listen",
        ),
        (
            Overrides {
                issuer: Some("http://id.example.com".into()),
                ..Overrides::default()
            },
            "issuer",
        ),
        (
            Overrides {
                issuer: Some("https://id.example.com/?x=1".into()),
                ..Overrides::default()
            },
            "issuer",
        ),
        (
            Overrides {
                issuer: Some("id.example.com".into()),
                ..Overrides::default()
            },
            "issuer",
        ),
    ] {
        let err = ServerConfig::resolve(None, o).unwrap_err();
        assert!(err.to_string().starts_with(setting), "{err}");
    }
}
