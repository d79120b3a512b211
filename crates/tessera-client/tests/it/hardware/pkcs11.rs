//! Device keys on a PKCS#11 token: SoftHSM2 with a token directory of this test's own.

use std::process::Command;
use std::sync::Arc;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use tessera_client::{HardwareKind, KeyProtection, KeyStore as _, Pkcs11KeyStore, Pkcs11Pin};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A fresh SoftHSM2 token with a label of its own, PIN `1234`, in SoftHSM2's token directory
/// (`SOFTHSM2_CONF` if `scripts/test` set it, else the system's); deleted when dropped.
struct Token {
    label: String,
}

impl Token {
    fn new() -> Self {
        let label = format!("tessera-{}", std::process::id());
        let status = Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                &label,
                "--pin",
                "1234",
                "--so-pin",
                "5678",
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("softhsm2-util (scripts/test installs softhsm2)");
        assert!(status.success());
        Self { label }
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        let _ = Command::new("softhsm2-util")
            .args(["--delete-token", "--token", &self.label])
            .stdout(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn a_token_key_signs_on_the_token_and_cannot_be_extracted() {
    let token = Token::new();
    let store = Pkcs11KeyStore::new(
        MODULE,
        &token.label,
        Pkcs11Pin::Callback(Arc::new(|| "1234".into())),
    );
    let key = store.load_or_create("laptop").unwrap();
    assert_eq!(key.protection(), KeyProtection::Hardware(HardwareKind::Pkcs11));
    super::assert_signs_verifiable_proofs(key.as_ref());
    assert_eq!(
        store.load_or_create("laptop").unwrap().thumbprint(),
        key.thumbprint()
    );
    assert_ne!(
        store.load_or_create("phone").unwrap().thumbprint(),
        key.thumbprint()
    );

    // Read back from the token by another session: sensitive, never extractable.
    let module = Pkcs11::new(MODULE).unwrap();
    let _ = module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = module
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| module.get_token_info(*s).unwrap().label() == token.label)
        .unwrap();
    let session = module.open_ro_session(slot).unwrap();
    // Login state is the application's, shared by its sessions: the store's login holds.
    match session.login(UserType::User, Some(&"1234".to_owned().into())) {
        Ok(()) | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("{e}"),
    }
    let private = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(b"tessera-device-laptop".to_vec()),
        ])
        .unwrap();
    let attributes = session
        .get_attributes(
            private[0],
            &[AttributeType::Sensitive, AttributeType::Extractable],
        )
        .unwrap();
    assert_eq!(
        attributes,
        [Attribute::Sensitive(true), Attribute::Extractable(false)]
    );
}

#[test]
fn a_wrong_or_missing_pin_and_an_unknown_token_are_refused() {
    let token = Token::new();
    let wrong = Pkcs11KeyStore::new(
        MODULE,
        &token.label,
        Pkcs11Pin::Callback(Arc::new(|| "0000".into())),
    );
    let e = wrong.load_or_create("laptop").unwrap_err();
    assert!(e.to_string().contains("PIN"), "{e}");
    assert!(!e.to_string().contains("0000"), "the PIN is not in the error");
    let unset = Pkcs11KeyStore::new(
        MODULE,
        &token.label,
        Pkcs11Pin::Env("TESSERA_TEST_NO_SUCH_PIN".into()),
    );
    let e = unset.load_or_create("laptop").unwrap_err();
    assert!(e.to_string().contains("TESSERA_TEST_NO_SUCH_PIN"), "{e}");
    let elsewhere = Pkcs11KeyStore::new(MODULE, "no-such-token", Pkcs11Pin::Env("X".into()));
    assert!(
        elsewhere
            .load_or_create("laptop")
            .unwrap_err()
            .to_string()
            .contains("no token")
    );
}
