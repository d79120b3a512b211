//! `tessera keys …`: generate a key pair into a private JWK file and show its public half.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Subcommand, ValueEnum};
use tessera_jose::{Algorithm, SigningKey};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a key pair: write the private JWK (mode 0600) and print the public JWK and its
    /// RFC 7638 thumbprint.
    Generate {
        /// Signature algorithm.
        #[arg(long, value_enum, default_value_t = Alg::Es256)]
        alg: Alg,
        /// Where to write the private JWK.
        #[arg(long, short, default_value = "tessera-key.jwk")]
        out: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Print the public JWK and thumbprint of a private JWK file.
    Show {
        /// The private JWK file.
        file: PathBuf,
    },
    /// Rotate the token-signing keys: the published next key becomes active, the active one
    /// retires (still published, so tokens it signed stay valid), and a new next key is made.
    /// Restart the servers to sign with the new key.
    Rotate {
        #[command(flatten)]
        db: crate::db::DbArgs,
        /// The file with the key-encryption key the private keys are sealed under (the server's
        /// `keys.encryption_key_file`) [default: key-encryption.key in the data directory;
        /// TESSERA_KEY_ENCRYPTION_KEY wins].
        #[arg(long)]
        key_encryption_key_file: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Alg {
    /// ECDSA P-256 with SHA-256.
    #[value(name = "ES256")]
    Es256,
    /// Ed25519.
    #[value(name = "EdDSA")]
    EdDsa,
}

impl From<Alg> for Algorithm {
    fn from(a: Alg) -> Self {
        match a {
            Alg::Es256 => Self::Es256,
            Alg::EdDsa => Self::EdDsa,
        }
    }
}

pub fn run(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Generate { alg, out, force } => {
            let key = SigningKey::generate(alg.into())?;
            write_private(&out, &key, force)?;
            eprintln!("wrote private key to {} (mode 0600)", out.display());
            print_public(&key)
        }
        KeysCommand::Rotate {
            db,
            key_encryption_key_file,
        } => crate::db::block_on(async {
            let store = crate::db::open(&db.data_dir, db.database_url).await?;
            let kek = tessera_directory::keys::KekSource::resolve(
                &db.data_dir,
                key_encryption_key_file,
                None,
                false,
            );
            let rotated = tessera_directory::keys::rotate(store.as_ref(), &kek, crate::db::now()).await?;
            println!("active key: {}", rotated.active);
            println!(
                "next key:   {} (published now, active at the next rotation)",
                rotated.next
            );
            println!("Restart the servers to sign with the new active key.");
            Ok(())
        }),
        KeysCommand::Show { file } => {
            let text = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let key = SigningKey::from_private_jwk(&text)
                .with_context(|| format!("{} is not a private ES256/EdDSA JWK", file.display()))?;
            print_public(&key)
        }
    }
}

fn write_private(path: &Path, key: &SigningKey, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        bail!("{} already exists; pass --force to replace it", path.display());
    }
    let jwk = key.to_private_jwk()?;
    // Write beside the target and rename, so a crash never leaves a half-written key.
    let tmp = path.with_extension("jwk.tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(jwk.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("moving key into {}", path.display()))?;
    Ok(())
}

fn print_public(key: &SigningKey) -> anyhow::Result<()> {
    let public = serde_json::to_string_pretty(key.public_jwk())?;
    println!("{public}");
    println!("thumbprint (jkt): {}", key.thumbprint());
    Ok(())
}
