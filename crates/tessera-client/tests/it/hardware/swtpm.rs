//! A software TPM for one test: `swtpm_setup` makes its state with an RSA EK certificate
//! signed by a local CA of its own (a root and an intermediate, as a manufacturer's), then
//! `swtpm` serves it on two 127.0.0.1 ports until dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SoftwareTpm {
    child: Child,
    /// The TCTI to reach it.
    pub tcti: String,
    dir: tempfile::TempDir,
}

/// Two free neighbouring ports: the swtpm TCTI finds the control port at the data port + 1.
fn free_ports() -> (u16, u16) {
    loop {
        let data = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = data.local_addr().unwrap().port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return (port, port + 1);
        }
    }
}

impl SoftwareTpm {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("state")).unwrap();
        std::fs::create_dir_all(d.join("ca")).unwrap();
        std::fs::write(
            d.join("localca.conf"),
            format!(
                "statedir = {ca}\nsigningkey = {ca}/signkey.pem\nissuercert = {ca}/issuercert.pem\ncertserial = {ca}/certserial\n",
                ca = d.join("ca").display()
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("localca.options"),
            "--platform-manufacturer Tessera\n--platform-version 1\n--platform-model test\n",
        )
        .unwrap();
        std::fs::write(
            d.join("setup.conf"),
            format!(
                "create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = {}\ncreate_certs_tool_options = {}\nactive_pcr_banks = sha256\n",
                d.join("localca.conf").display(),
                d.join("localca.options").display()
            ),
        )
        .unwrap();
        let status = Command::new("swtpm_setup")
            .args([
                "--tpm2",
                "--create-ek-cert",
                "--lock-nvram",
                "--overwrite",
                "--tpmstate",
            ])
            .arg(d.join("state"))
            .arg("--config")
            .arg(d.join("setup.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("swtpm_setup (scripts/test installs swtpm and swtpm-tools)");
        assert!(status.success(), "swtpm_setup failed");
        let (port, ctrl) = free_ports();
        let child = Command::new("swtpm")
            .args([
                "socket",
                "--tpm2",
                "--flags",
                "not-need-init,startup-clear",
                "--tpmstate",
            ])
            .arg(format!("dir={}", d.join("state").display()))
            .arg("--server")
            .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
            .arg("--ctrl")
            .arg(format!("type=tcp,port={ctrl},bindaddr=127.0.0.1"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("swtpm");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "swtpm did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            tcti: format!("swtpm:host=127.0.0.1,port={port}"),
            dir,
        }
    }

    /// The local CA's root certificate (PEM): the "manufacturer root" to trust.
    pub fn root_pem(&self) -> PathBuf {
        self.dir.path().join("ca/swtpm-localca-rootca-cert.pem")
    }

    /// The intermediate CA certificate (PEM) that signed the EK certificate.
    pub fn intermediate_pem(&self) -> PathBuf {
        self.dir.path().join("ca/issuercert.pem")
    }

    /// The intermediate as DER, as a client sends it.
    pub fn intermediate_der(&self) -> Vec<u8> {
        der_of_pem(&self.intermediate_pem())
    }

    pub fn config(&self) -> tessera_client::TpmConfig {
        tessera_client::TpmConfig {
            tcti: self.tcti.clone(),
            ek_chain: vec![self.intermediate_der()],
        }
    }
}

fn der_of_pem(path: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(path).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body).unwrap()
}

impl Drop for SoftwareTpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
