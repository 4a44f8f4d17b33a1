//! Test fixtures made at test time with the real tools: Debian's `mender-artifact` writes the
//! artifacts, OpenSSL makes keys and re-signs variants. Nothing here is checked in.
//!
//! `Art` unpacks an artifact into its outer members so a test can change one thing (a byte, an
//! entry, the order, the manifest) and re-sign the manifest with a real key, reproducing one
//! attack at a time.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use base64::Engine;

/// Where the shared fixtures live for the whole test run.
pub struct Fixtures {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

static FIXTURES: OnceLock<Fixtures> = OnceLock::new();

/// The shared fixtures: keys and base artifacts, made once per test process.
pub fn fx() -> &'static Fixtures {
    FIXTURES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_owned();
        make_all(&root);
        Fixtures { _dir: dir, root }
    })
}

impl Fixtures {
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn bytes(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }
}

fn make_all(root: &Path) {
    let sh = |script: &str| {
        let out = Command::new("bash")
            .arg("-euo")
            .arg("pipefail")
            .arg("-c")
            .arg(script)
            .current_dir(root)
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "fixture script failed: {script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // Keys. Debian's mender-artifact 3.9.0 needs PKCS#1 RSA and SEC1 EC private keys (spec §3.4).
    sh("openssl genrsa -traditional -out rsa.key 3072 2>/dev/null
        openssl rsa -in rsa.key -pubout -out rsa.pub 2>/dev/null
        openssl rsa -in rsa.key -pubout -RSAPublicKey_out -out rsa.pkcs1.pub 2>/dev/null
        openssl genrsa -traditional -out rsa2.key 3072 2>/dev/null
        openssl rsa -in rsa2.key -pubout -out rsa2.pub 2>/dev/null
        openssl genrsa -traditional -out rsa1024.key 1024 2>/dev/null
        openssl rsa -in rsa1024.key -pubout -out rsa1024.pub 2>/dev/null
        openssl ecparam -genkey -name prime256v1 -noout -out ec.key
        openssl ec -in ec.key -pubout -out ec.pub 2>/dev/null
        openssl ecparam -genkey -name prime256v1 -noout -out ec2.key
        openssl ec -in ec2.key -pubout -out ec2.pub 2>/dev/null
        openssl ecparam -genkey -name secp384r1 -noout -out p384.key
        openssl ec -in p384.key -pubout -out p384.pub 2>/dev/null
        openssl genpkey -algorithm ED25519 -out ed.key
        openssl pkey -in ed.key -pubout -out ed.pub
        openssl req -x509 -new -key ec.key -subj /CN=signer -days 30 -out ec.cert.pem
        openssl x509 -in ec.cert.pem -outform DER -out ec.cer
        openssl req -x509 -new -key rsa.key -subj /CN=signer -days 30 -outform DER -out rsa.cer");
    // Payload files with recognisable content.
    sh("printf 'hello-artifact-gate-marker\\n' > f1.txt
        head -c 100000 /dev/urandom > z2.bin
        printf 'other payload\\n' > other.txt
        printf '#!/bin/sh\\necho install\\n' > ArtifactInstall_Enter_00
        printf '#!/bin/sh\\necho health check failed >&2\\nexit 3\\n' > ArtifactCommit_Enter_10");
    let img = vectors_dir().join("mender_test.img");
    std::fs::copy(&img, root.join("rootfs.img")).expect("copy mender_test.img");
    let ma = |args: &str| sh(&format!("mender-artifact {args} >/dev/null"));
    ma(
        "write module-image -T single-file -n mod-rsa -t beaglebone -f z2.bin -f f1.txt -o mod-rsa.mender -k rsa.key",
    );
    ma(
        "write module-image -T single-file -n mod-none -t beaglebone -f f1.txt -f z2.bin -o mod-none.mender -k rsa.key --compression none",
    );
    ma(
        "write module-image -T single-file -n mod-other -t beaglebone -f other.txt -o mod-other.mender -k rsa.key --compression none",
    );
    ma(
        "write module-image -T single-file -n mod-unsigned -t beaglebone -f f1.txt -o mod-unsigned.mender --compression none",
    );
    ma(
        "write module-image -T directory -n mod-ec -t beaglebone -t qemux86 -f f1.txt -f z2.bin -o mod-ec.mender -k ec.key --compression lzma",
    );
    ma(
        "write rootfs-image -n rootfs-ec -t beaglebone -f rootfs.img -o rootfs-ec.mender -k ec.key --compression lzma",
    );
    ma(
        "write rootfs-image -n rootfs-rsa -t beaglebone -f rootfs.img -o rootfs-rsa.mender -k rsa.key -s ArtifactInstall_Enter_00",
    );
    // An A/B update whose own health check (run at its commit, after the reboot) fails.
    ma(
        "write rootfs-image -n rootfs-unhealthy -t beaglebone -f rootfs.img -o rootfs-unhealthy.mender -k rsa.key -s ArtifactCommit_Enter_10",
    );
    ma(
        "write bootstrap-artifact -n boot -t beaglebone -o boot.mender -k rsa.key --compression none",
    );
    ma("write bootstrap-artifact -n boot-gz -t beaglebone -o boot-gz.mender -k rsa.key");
}

/// The shared interop vectors (read in place, never copied into the repository).
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors")
}

/// Runs the artifact-gate binary with a clean Mender environment rooted in `env_root`.
pub fn gate(args: &[&str], env_root: &Path) -> Output {
    gate_with_stdin(args, env_root, None)
}

/// Like [`gate`], feeding `stdin`.
pub fn gate_with_stdin(args: &[&str], env_root: &Path, stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_artifact-gate"));
    with_scratch_env(cmd.args(args), env_root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn artifact-gate");
    if let (Some(mut pipe), Some(data)) = (child.stdin.take(), stdin) {
        // The gate may stop reading early (a rejection); a broken pipe is fine then.
        let _ = pipe.write_all(data);
    }
    child.wait_with_output().expect("wait artifact-gate")
}

/// Points a run of the binary at the Mender environment rooted in `env_root`.
pub fn with_scratch_env<'c>(cmd: &'c mut Command, env_root: &Path) -> &'c mut Command {
    cmd.env("MENDER_CONF_DIR", env_root.join("etc"))
        .env("MENDER_DATASTORE_DIR", env_root.join("var"))
        .env("MENDER_DATA_DIR", env_root.join("share"))
        // The settings file (its [limits] apply to the command line too): the scratch root's,
        // which is absent unless a test writes it.
        .env(
            "ARTIFACT_GATE_CONFIG",
            env_root.join("etc/artifact-gate.toml"),
        )
}

/// Like [`gate`], with extra environment variables (a token's configuration, say).
pub fn gate_env(args: &[&str], env_root: &Path, env: &[(&str, &std::ffi::OsStr)]) -> Verdict {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_artifact-gate"));
    with_scratch_env(cmd.args(args), env_root);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Verdict::from(cmd.output().expect("run artifact-gate"))
}

/// Outcome of a CLI run, for assertions.
pub struct Verdict {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Verdict {
    pub fn from(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts exit 0.
    #[track_caller]
    pub fn valid(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected valid\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert!(
            self.stdout.starts_with("valid:") || self.stdout.contains("Mender artifact"),
            "{}",
            self.stdout
        );
        self
    }

    /// Asserts exit `code` with `why` in stderr.
    #[track_caller]
    pub fn fails(&self, code: i32, why: &str) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit {code} ({why})\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains(why),
            "expected {why:?} in stderr: {}",
            self.stderr
        );
        assert!(
            self.stdout.is_empty(),
            "no verdict may be printed on failure: {}",
            self.stdout
        );
        assert_operator_words(&self.stderr);
        self
    }
}

/// Asserts that `text` is written for an operator: no Rust debug formatting (`Some("…")`,
/// `None`, `Other(OtherError(…))`, `["…"]`, `\"`, `Struct { field: … }`) and no raw control
/// byte (a string from an artifact printed unescaped). Every rejection a test checks with
/// [`Verdict::fails`] passes through here.
#[track_caller]
pub fn assert_operator_words(text: &str) {
    for bad in ["Some(", "Ok(", "Err(", "[\"", "\\\"", "{:?}", "\"]"] {
        assert!(!text.contains(bad), "debug syntax {bad:?} in: {text}");
    }
    // Debug of a string: double quotes around Rust escapes.
    for (i, quoted) in text.split('"').enumerate() {
        assert!(
            i % 2 == 0 || !quoted.contains("\\u{"),
            "a Rust-escaped string in: {text}"
        );
    }
    let words: Vec<&str> = text
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .collect();
    let mut at = 0;
    for word in words {
        let start = text[at..].find(word).map_or(at, |i| at + i);
        at = start + word.len();
        let next = &text[at..];
        // `None` as a value, and CamelCase enum names followed by `(` or ` {`: Debug output.
        let none = word == "None" && !next.starts_with(|c: char| c.is_ascii_alphabetic());
        let humps = word.chars().filter(char::is_ascii_uppercase).count();
        let camel = humps >= 2
            && word.starts_with(|c: char| c.is_ascii_uppercase())
            && word.chars().any(|c| c.is_ascii_lowercase())
            && (next.starts_with('(') || next.starts_with(" { "));
        let enum_call = ["Other", "Custom", "Os", "Kind"].contains(&word) && next.starts_with('(');
        // `Name { field: …`: a struct's Debug.
        let struct_debug = word.starts_with(|c: char| c.is_ascii_uppercase())
            && next.strip_prefix(" { ").is_some_and(|rest| {
                let field: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                !field.is_empty() && rest[field.len()..].starts_with(": ")
            });
        assert!(
            !none && !camel && !enum_call && !struct_debug,
            "debug syntax {word:?} in: {text}"
        );
    }
    assert!(
        text.bytes()
            .all(|b| b == b'\n' || (0x20..0x7f).contains(&b) || b >= 0x80),
        "raw control byte in: {text:?}"
    );
}

#[test]
fn the_operator_words_check_catches_debug_output() {
    for debug in [
        "invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))",
        "types [\"beaglebone\"]",
        "type Some(\"x\")",
        "found None",
        "Io { kind: NotFound }",
        "name \"a\\u{1b}\"",
        "raw \u{1b}[2J",
    ] {
        let caught = std::panic::catch_unwind(|| assert_operator_words(debug));
        assert!(caught.is_err(), "not caught: {debug}");
    }
    assert_operator_words(
        "artifact-gate: rejected: payload file 'a\\u{1b}b': state script 'ArtifactInstall_Enter_00' \
         (RSA PKCS#1 v1.5) none of the 2 configured keys\n",
    );
}

/// One PAX record, `"<len> <body>\n"`, its length counting itself.
pub fn pax_record(body: &str) -> Vec<u8> {
    let mut len = body.len() + 3;
    loop {
        let record = format!("{len} {body}\n");
        if record.len() == len {
            return record.into_bytes();
        }
        len = record.len();
    }
}

/// `tar(members)` with a PAX `x` header holding `records` (raw, possibly malformed) just before
/// member `before`.
pub fn tar_with_pax(members: &[Member], before: usize, records: &[u8]) -> Vec<u8> {
    let mut out = tar(&members[..before], Dialect::Ustar);
    out.truncate(out.len() - 1024);
    push_pax_header(&mut out, records);
    out.extend(tar(&members[before..], Dialect::Ustar));
    out
}

/// Appends a PAX `x` header holding `records` to a tar being written.
fn push_pax_header(out: &mut Vec<u8>, records: &[u8]) {
    let mut x = tar::Header::new_ustar();
    x.set_entry_type(tar::EntryType::XHeader);
    x.set_path("PaxHeaders/x").unwrap();
    x.set_size(records.len() as u64);
    x.set_mode(0o600);
    x.set_cksum();
    out.extend_from_slice(x.as_bytes());
    out.extend_from_slice(records);
    pad(out);
}

/// Runs a tool the fixtures need (mender-artifact, openssl), failing the test with its stderr.
#[track_caller]
pub fn run_ok(command: &mut Command) {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file and directory below `dir`, relative to it (empty when `dir` is absent).
pub fn tree_of(dir: &Path) -> std::collections::BTreeSet<PathBuf> {
    let mut out = std::collections::BTreeSet::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            out.insert(path.strip_prefix(dir).unwrap().to_owned());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            }
        }
    }
    out
}

/// Asserts that `after` adds nothing to `before` but artifact-gate's own lock (and its folder):
/// no file written for a rejected artifact stays in the datastore.
#[track_caller]
pub fn assert_nothing_left(
    before: &std::collections::BTreeSet<PathBuf>,
    datastore: &Path,
    what: &str,
) {
    let own: [&Path; 2] = [Path::new("artifact-gate"), Path::new("artifact-gate/lock")];
    let left: Vec<PathBuf> = tree_of(datastore)
        .into_iter()
        .filter(|p| !before.contains(p) && !own.contains(&p.as_path()))
        .collect();
    assert!(left.is_empty(), "{what}: left in the datastore: {left:?}");
}

/// A scratch directory for one test, holding artifact variants and its own Mender environment.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, bytes).expect("write");
        path
    }

    /// Validates `bytes` with `key` (a fixture file name).
    pub fn validate(&self, bytes: &[u8], key: &str) -> Verdict {
        let path = self.write("under-test.mender", bytes);
        let key = fx().path(key);
        Verdict::from(gate(
            &[
                "validate",
                "-k",
                key.to_str().unwrap(),
                path.to_str().unwrap(),
            ],
            self.root(),
        ))
    }

    /// Runs the CLI with `args` in this scratch environment.
    pub fn run(&self, args: &[&str]) -> Verdict {
        Verdict::from(gate(args, self.root()))
    }
}

/// One tar member as a test sees it.
#[derive(Clone, Debug)]
pub struct Member {
    pub name: String,
    pub data: Vec<u8>,
    pub kind: tar::EntryType,
    pub link: Option<String>,
    /// Written into the header instead of `data.len()` (for lying-size tests).
    pub size_override: Option<u64>,
}

impl Member {
    pub fn file(name: &str, data: &[u8]) -> Self {
        Self {
            name: name.to_owned(),
            data: data.to_vec(),
            kind: tar::EntryType::Regular,
            link: None,
            size_override: None,
        }
    }
}

/// Which tar dialect to write.
#[derive(Clone, Copy, Debug)]
pub enum Dialect {
    Ustar,
    Gnu,
    Pax,
}

/// Reads every member of a tar.
pub fn untar(bytes: &[u8]) -> Vec<Member> {
    let mut archive = tar::Archive::new(bytes);
    let mut out = Vec::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let name = String::from_utf8(entry.path_bytes().into_owned()).expect("utf8 name");
        let kind = entry.header().entry_type();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("member data");
        out.push(Member {
            name,
            data,
            kind,
            link: None,
            size_override: None,
        });
    }
    out
}

/// Writes members as a tar in `dialect`, ending with the two zero blocks.
pub fn tar(members: &[Member], dialect: Dialect) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        let mut header = match dialect {
            Dialect::Ustar | Dialect::Pax => tar::Header::new_ustar(),
            Dialect::Gnu => tar::Header::new_gnu(),
        };
        header.set_entry_type(m.kind);
        header.set_mode(0o600);
        header.set_mtime(0);
        if let Some(link) = &m.link {
            header.set_link_name(link).expect("link name");
        }
        let size = m.size_override.unwrap_or(m.data.len() as u64);
        if let Dialect::Pax = dialect {
            // A PAX 'x' record carrying the path and size, as Go writes for large members.
            let records = [
                pax_record(&format!("path={}", m.name)),
                pax_record(&format!("size={size}")),
            ]
            .concat();
            push_pax_header(&mut out, &records);
            header.set_path("pax-short-name").unwrap();
            header.set_size(size.min(0o77777777777));
        } else {
            set_raw_path(&mut header, &m.name, &mut out, dialect);
            header.set_size(size);
        }
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&m.data);
        pad(&mut out);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn set_raw_path(header: &mut tar::Header, name: &str, out: &mut Vec<u8>, dialect: Dialect) {
    // Write the name bytes verbatim (the tar crate's set_path refuses '..', which the attack
    // tests need); long names go into a GNU 'L' record.
    let bytes = name.as_bytes();
    if bytes.len() <= 100 {
        let raw = header.as_old_mut();
        raw.name = [0; 100];
        raw.name[..bytes.len()].copy_from_slice(bytes);
        return;
    }
    assert!(
        matches!(dialect, Dialect::Gnu),
        "long names need the GNU dialect"
    );
    let mut l = tar::Header::new_gnu();
    l.set_entry_type(tar::EntryType::GNULongName);
    l.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    l.set_size(bytes.len() as u64 + 1);
    l.set_mode(0o600);
    l.set_cksum();
    out.extend_from_slice(l.as_bytes());
    out.extend_from_slice(bytes);
    out.push(0);
    pad(out);
    let raw = header.as_old_mut();
    raw.name = [0; 100];
    raw.name.copy_from_slice(&bytes[..100]);
}

fn pad(out: &mut Vec<u8>) {
    let rem = out.len() % 512;
    if rem != 0 {
        out.resize(out.len() + 512 - rem, 0);
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// How to sign a manifest.
#[derive(Clone, Copy, Debug)]
pub enum Signer<'a> {
    /// `openssl dgst -sha256 -sign` with an RSA key: PKCS#1 v1.5.
    Rsa(&'a str),
    /// RSA-PSS with SHA-256.
    RsaPss(&'a str),
    /// ECDSA P-256, DER as OpenSSL emits it.
    EcdsaDer(&'a str),
    /// ECDSA P-256 converted to 64-byte r||s, as mender-artifact writes it.
    EcdsaRaw(&'a str),
    /// Ed25519 over the manifest bytes.
    Ed25519(&'a str),
    /// Ed25519 over the SHA-256 of the manifest.
    Ed25519Digest(&'a str),
}

/// Signs `manifest` with OpenSSL; returns the raw signature bytes.
pub fn sign(manifest: &[u8], signer: Signer<'_>) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let msg = dir.path().join("msg");
    let sig = dir.path().join("sig");
    let key = |k: &str| fx().path(k).to_str().unwrap().to_owned();
    let (args, input): (Vec<String>, Vec<u8>) = match signer {
        Signer::Rsa(k) | Signer::EcdsaDer(k) | Signer::EcdsaRaw(k) => (
            vec!["dgst".into(), "-sha256".into(), "-sign".into(), key(k)],
            manifest.to_vec(),
        ),
        Signer::RsaPss(k) => (
            vec![
                "dgst".into(),
                "-sha256".into(),
                "-sigopt".into(),
                "rsa_padding_mode:pss".into(),
                "-sign".into(),
                key(k),
            ],
            manifest.to_vec(),
        ),
        Signer::Ed25519(k) => (ed_sign(key(k)), manifest.to_vec()),
        Signer::Ed25519Digest(k) => {
            use sha2::Digest;
            (ed_sign(key(k)), sha2::Sha256::digest(manifest).to_vec())
        }
    };
    std::fs::write(&msg, &input).unwrap();
    let mut cmd = Command::new("openssl");
    cmd.args(&args);
    if matches!(signer, Signer::Ed25519(_) | Signer::Ed25519Digest(_)) {
        cmd.arg("-in").arg(&msg).arg("-out").arg(&sig);
    } else {
        cmd.arg("-out").arg(&sig).arg(&msg);
    }
    let out = cmd.output().expect("openssl");
    assert!(
        out.status.success(),
        "openssl sign: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sig = std::fs::read(&sig).unwrap();
    if let Signer::EcdsaRaw(_) = signer {
        let parsed = p256::ecdsa::Signature::from_der(&sig).expect("openssl DER signature");
        return parsed.to_bytes().to_vec();
    }
    sig
}

fn ed_sign(key: String) -> Vec<String> {
    ["pkeyutl", "-sign", "-rawin", "-inkey"]
        .into_iter()
        .map(String::from)
        .chain([key])
        .collect()
}

/// An artifact opened up for surgery.
#[derive(Clone, Debug)]
pub struct Art {
    pub members: Vec<Member>,
}

impl Art {
    pub fn open(fixture: &str) -> Self {
        Self {
            members: untar(&fx().bytes(fixture)),
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self {
            members: untar(bytes),
        }
    }

    pub fn get(&self, name: &str) -> &[u8] {
        &self
            .members
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no member {name}"))
            .data
    }

    pub fn set(&mut self, name: &str, data: Vec<u8>) -> &mut Self {
        let m = self
            .members
            .iter_mut()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no member {name}"));
        m.data = data;
        self
    }

    pub fn rename(&mut self, from: &str, to: &str) -> &mut Self {
        self.members
            .iter_mut()
            .find(|m| m.name == from)
            .unwrap_or_else(|| panic!("no member {from}"))
            .name = to.to_owned();
        self
    }

    pub fn insert_after(&mut self, after: &str, member: Member) -> &mut Self {
        let pos = self
            .members
            .iter()
            .position(|m| m.name == after)
            .expect("anchor")
            + 1;
        self.members.insert(pos, member);
        self
    }

    pub fn manifest(&self) -> String {
        String::from_utf8(self.get("manifest").to_vec()).unwrap()
    }

    /// Replaces the manifest and signs it anew with `signer`.
    pub fn set_manifest(&mut self, text: &str, signer: Signer<'_>) -> &mut Self {
        self.set("manifest", text.as_bytes().to_vec());
        self.resign(signer)
    }

    /// Signs the current manifest bytes, adding `manifest.sig` if absent.
    pub fn resign(&mut self, signer: Signer<'_>) -> &mut Self {
        let sig = sign(self.get("manifest"), signer);
        let text = base64::engine::general_purpose::STANDARD
            .encode(sig)
            .into_bytes();
        if self.members.iter().any(|m| m.name == "manifest.sig") {
            self.set("manifest.sig", text);
        } else {
            self.insert_after("manifest", Member::file("manifest.sig", &text));
        }
        self
    }

    /// Points the manifest line for `path` at the current content of `content` and re-signs.
    pub fn rehash(&mut self, path: &str, content: &[u8], signer: Signer<'_>) -> &mut Self {
        let text: String = self
            .manifest()
            .lines()
            .map(|l| {
                if l.ends_with(&format!("  {path}")) {
                    format!("{}  {path}\n", sha256_hex(content))
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        self.set_manifest(&text, signer)
    }

    pub fn bytes(&self) -> Vec<u8> {
        tar(&self.members, Dialect::Ustar)
    }

    pub fn bytes_in(&self, dialect: Dialect) -> Vec<u8> {
        tar(&self.members, dialect)
    }
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

/// Read options that require a signature by the fixture key `key` (a file name in the fixtures).
pub fn signed_by(key: &str) -> artifact_gate::artifact::ReadOptions {
    let ring = artifact_gate::keys::load::load_keys(&[fx().path(key).to_str().unwrap().to_owned()])
        .unwrap()
        .unwrap();
    artifact_gate::artifact::ReadOptions {
        signature: artifact_gate::signature::SignaturePolicy::Required(ring),
        device: artifact_gate::policy::DeviceFacts::default(),
        limits: artifact_gate::stream::limits::Limits::default(),
        expect_manifest_sha256: None,
    }
}

/// A sandbox device with only mender.conf naming the RSA key and a `beaglebone` device_type.
pub fn keyed_device() -> Scratch {
    let s = Scratch::new();
    s.write(
        "etc/mender.conf",
        format!(
            r#"{{"ArtifactVerifyKey":"{}"}}"#,
            fx().path("rsa.pub").display()
        )
        .as_bytes(),
    );
    s.write("var/device_type", b"device_type=beaglebone\n");
    s
}

/// A sandbox device for module installs: mender.conf naming the RSA key, a device_type, and
/// Debian's single-file, directory and script Update Modules.
pub fn module_device() -> Scratch {
    let s = keyed_device();
    let modules = s.root().join("share/modules/v3");
    std::fs::create_dir_all(&modules).unwrap();
    for m in ["single-file", "directory", "script"] {
        std::fs::copy(
            Path::new("/usr/share/mender/modules/v3").join(m),
            modules.join(m),
        )
        .unwrap();
    }
    s
}

/// A single-file artifact signed by `rsa.key`, written by the real mender-artifact with
/// `extra` arguments (e.g. a compression), that puts `content` at `<sandbox>/target/app.conf`.
pub fn app_artifact(s: &Scratch, name: &str, content: &str, extra: &[&str]) -> PathBuf {
    let dir = s.root().join(format!("build-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.conf"), content).unwrap();
    std::fs::write(
        dir.join("dest_dir"),
        s.root().join("target").display().to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("filename"), "app.conf").unwrap();
    std::fs::write(dir.join("permissions"), "644").unwrap();
    let mut cmd = Command::new("mender-artifact");
    cmd.current_dir(&dir)
        .args(["write", "module-image", "-T", "single-file", "-n", name])
        .args(["-t", "beaglebone", "-f", "app.conf", "-f", "dest_dir"])
        .args([
            "-f",
            "filename",
            "-f",
            "permissions",
            "-o",
            "app.mender",
            "-k",
        ])
        .arg(fx().path("rsa.key"))
        .args(extra);
    run_ok(&mut cmd);
    dir.join("app.mender")
}

/// What the artifacts of [`app_artifact`] installed, if anything.
pub fn app_target(s: &Scratch) -> Option<String> {
    std::fs::read_to_string(s.root().join("target/app.conf")).ok()
}
