//! A software TPM (`swtpm`) for tests, demos and trying Tessera's hardware story on a machine
//! without a TPM: `swtpm_setup` makes its state with an RSA EK certificate signed by a local CA
//! of its own (a root and an intermediate, as a manufacturer's), then `swtpm` serves it on two
//! 127.0.0.1 ports until dropped. Needs Debian's `swtpm` and `swtpm-tools`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::ClientError;

/// A running `swtpm` with its own state and local CA, stopped when dropped.
#[derive(Debug)]
pub struct SoftwareTpm {
    child: Child,
    /// The TCTI to reach it.
    pub tcti: String,
    dir: tempfile::TempDir,
}

/// Two free neighbouring ports: the swtpm TCTI finds the control port at the data port + 1.
fn free_ports() -> std::io::Result<(u16, u16)> {
    loop {
        let data = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = data.local_addr()?.port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return Ok((port, port + 1));
        }
    }
}

fn failed(what: &str, e: &dyn std::fmt::Display) -> ClientError {
    ClientError::Keys(format!("software TPM: {what}: {e}"))
}

impl SoftwareTpm {
    /// Whether `swtpm` and `swtpm_setup` are installed.
    #[must_use]
    pub fn available() -> bool {
        ["swtpm", "swtpm_setup"].iter().all(|p| {
            Command::new(p)
                .arg("--help")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        })
    }

    /// Manufactures a TPM (about two seconds: its EK is an RSA key) and starts it.
    ///
    /// # Errors
    /// [`ClientError::Keys`] when `swtpm` is missing or fails.
    pub fn start() -> Result<Self, ClientError> {
        fn io(what: &'static str) -> impl Fn(std::io::Error) -> ClientError {
            move |e| failed(what, &e)
        }
        let dir = tempfile::tempdir().map_err(io("a state directory"))?;
        let d = dir.path();
        std::fs::create_dir_all(d.join("state")).map_err(io("a state directory"))?;
        std::fs::create_dir_all(d.join("ca")).map_err(io("a CA directory"))?;
        let ca = d.join("ca");
        let files = [
            (
                "localca.conf",
                format!(
                    "statedir = {ca}\nsigningkey = {ca}/signkey.pem\nissuercert = {ca}/issuercert.pem\ncertserial = {ca}/certserial\n",
                    ca = ca.display()
                ),
            ),
            (
                "localca.options",
                "--platform-manufacturer Tessera\n--platform-version 1\n--platform-model software\n".into(),
            ),
            (
                "setup.conf",
                format!(
                    "create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = {}\ncreate_certs_tool_options = {}\nactive_pcr_banks = sha256\n",
                    d.join("localca.conf").display(),
                    d.join("localca.options").display()
                ),
            ),
        ];
        for (name, text) in files {
            std::fs::write(d.join(name), text).map_err(io("its configuration"))?;
        }
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
            .map_err(io("running swtpm_setup (install swtpm and swtpm-tools)"))?;
        if !status.success() {
            return Err(failed("swtpm_setup", &status));
        }
        let (port, ctrl) = free_ports().map_err(io("finding two free ports"))?;
        let mut child = Command::new("swtpm")
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
            .map_err(io("starting swtpm"))?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                return Err(failed("swtpm", &"did not listen within 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self {
            child,
            tcti: format!("swtpm:host=127.0.0.1,port={port}"),
            dir,
        })
    }

    /// The local CA's root certificate (PEM): the "manufacturer root" to trust.
    #[must_use]
    pub fn root_pem(&self) -> PathBuf {
        self.dir.path().join("ca/swtpm-localca-rootca-cert.pem")
    }

    /// The intermediate CA certificate (PEM) that signed the EK certificate.
    #[must_use]
    pub fn intermediate_pem(&self) -> PathBuf {
        self.dir.path().join("ca/issuercert.pem")
    }

    /// How a [`super::TpmKeyStore`] reaches this TPM, sending the intermediate with the EK
    /// certificate.
    ///
    /// # Errors
    /// [`ClientError::Keys`] when the intermediate cannot be read.
    pub fn config(&self) -> Result<super::TpmConfig, ClientError> {
        Ok(super::TpmConfig {
            tcti: self.tcti.clone(),
            ek_chain: vec![der_of_pem(&self.intermediate_pem())?],
        })
    }
}

fn der_of_pem(path: &Path) -> Result<Vec<u8>, ClientError> {
    let text = std::fs::read_to_string(path).map_err(|e| failed("reading the intermediate", &e))?;
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body)
        .map_err(|e| failed("reading the intermediate", &e))
}

impl Drop for SoftwareTpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
