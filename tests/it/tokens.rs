//! Verify keys in real tokens (issue #7): a SoftHSM2 token in a private configuration, and a
//! software TPM (swtpm) behind tpm2-pkcs11. Each fixture starts its own token and stops only the
//! processes it started, by PID.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixtures::{Art, Scratch, Signer, Verdict, fx, gate_env};

pub(crate) const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";

fn ok(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A SoftHSM2 token `upd-keys` (user PIN 1234) holding the fixtures' public keys: RSA-3072 as
/// `rsa-root` (id 01), P-256 as `ec-root` (id 02), Ed25519 as `ed-root` (id 03).
pub(crate) struct SoftHsm {
    dir: tempfile::TempDir,
}

impl SoftHsm {
    pub(crate) fn new() -> Self {
        // Under ARM emulation the 32-bit SoftHSM cannot list a token directory on ext4 (its
        // 64-bit directory offsets do not fit), so the tokens live on tmpfs there.
        let dir = if cfg!(target_pointer_width = "32") {
            tempfile::tempdir_in("/dev/shm").unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let hsm = Self { dir };
        ok(hsm.command("softhsm2-util").args([
            "--init-token",
            "--free",
            "--label",
            "upd-keys",
            "--so-pin",
            "12345678",
            "--pin",
            "1234",
        ]));
        for (key, label, id) in [
            ("rsa.pub", "rsa-root", "01"),
            ("ec.pub", "ec-root", "02"),
            ("ed.pub", "ed-root", "03"),
        ] {
            hsm.import(&fx().path(key), label, id);
        }
        hsm
    }

    /// Writes a public key (PEM) as a token object with GnuTLS's p11tool, which (unlike
    /// pkcs11-tool 0.23) also handles Ed25519.
    fn import(&self, key: &Path, label: &str, id: &str) {
        ok(self
            .command("p11tool")
            .env("GNUTLS_PIN", "1234")
            .args(["--provider", SOFTHSM, "--login", "--write", "--load-pubkey"])
            .arg(key)
            .args(["--label", label, "--id", id, "pkcs11:token=upd-keys"]));
    }

    pub(crate) fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SOFTHSM2_CONF", self.conf());
        c
    }

    pub(crate) fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    fn uri(&self, path_attrs: &str) -> String {
        format!("pkcs11:{path_attrs};type=public?module-path={SOFTHSM}")
    }

    fn run(&self, s: &Scratch, args: &[&str]) -> Verdict {
        gate_env(
            args,
            s.root(),
            &[("SOFTHSM2_CONF", self.conf().as_os_str())],
        )
    }

    fn validate(&self, bytes: &[u8], key: &str) -> Verdict {
        let s = Scratch::new();
        let path = s.write("under-test.mender", bytes);
        self.run(&s, &["validate", "-k", key, path.to_str().unwrap()])
    }
}

fn resigned(fixture: &str, signer: Signer<'_>) -> Vec<u8> {
    let mut a = Art::open(fixture);
    a.resign(signer);
    a.bytes()
}

#[test]
fn softhsm_rsa_key_verifies_on_the_token_and_rejects_another_signer() {
    let hsm = SoftHsm::new();
    let key = hsm.uri("token=upd-keys;object=rsa-root");
    let v = hsm.validate(&fx().bytes("mod-rsa.mender"), &key);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stdout.contains("token=upd-keys;object=rsa-root")
            && v.stdout.contains("verified on the token")
            && v.stdout.contains("RSA PKCS#1 v1.5 / SHA-256"),
        "{}",
        v.stdout
    );

    let v = hsm.validate(&resigned("mod-rsa.mender", Signer::Rsa("rsa2.key")), &key);
    assert_eq!(v.code, 1, "{}", v.stderr);
    assert!(
        v.stderr
            .contains("RSA signature does not match the manifest"),
        "{}",
        v.stderr
    );
}

#[test]
fn softhsm_p256_key_verifies_raw_and_der_signatures_by_id() {
    let hsm = SoftHsm::new();
    let key = hsm.uri("token=upd-keys;id=%02");
    // mender-artifact's own output: raw r||s.
    let v = hsm.validate(&fx().bytes("mod-ec.mender"), &key);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(v.stdout.contains("(raw r||s)"), "{}", v.stdout);
    // A signing server's DER.
    let v = hsm.validate(&resigned("mod-ec.mender", Signer::EcdsaDer("ec.key")), &key);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(v.stdout.contains("(DER)"), "{}", v.stdout);
    // Another P-256 key's signature.
    let v = hsm.validate(
        &resigned("mod-ec.mender", Signer::EcdsaDer("ec2.key")),
        &key,
    );
    assert_eq!(v.code, 1);
    assert!(
        v.stderr.contains("ECDSA P-256 signature does not match"),
        "{}",
        v.stderr
    );
}

#[test]
fn softhsm_ed25519_key_verifies_over_the_manifest_and_over_its_digest() {
    let hsm = SoftHsm::new();
    let key = hsm.uri("token=upd-keys;object=ed-root");
    let v = hsm.validate(
        &resigned("mod-none.mender", Signer::Ed25519("ed.key")),
        &key,
    );
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(v.stdout.contains("(Ed25519)"), "{}", v.stdout);
    let v = hsm.validate(
        &resigned("mod-none.mender", Signer::Ed25519Digest("ed.key")),
        &key,
    );
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stdout.contains("Ed25519 over SHA-256 digest"),
        "{}",
        v.stdout
    );
    // The manifest changed after signing: the token says no.
    let mut a = Art::open("mod-none.mender");
    a.resign(Signer::Ed25519("ed.key"));
    let text = a.manifest().replace("z2.bin", "z2.bi_");
    a.set("manifest", text.into_bytes());
    let tampered_after_signing = a.bytes();
    let v = hsm.validate(&tampered_after_signing, &key);
    assert_eq!(v.code, 1, "{}", v.stderr);
    assert!(
        v.stderr.contains("Ed25519 signature does not match"),
        "{}",
        v.stderr
    );
}

#[test]
fn softhsm_keys_fail_closed_as_configuration_errors() {
    let hsm = SoftHsm::new();
    let art = fx().bytes("mod-rsa.mender");
    let cases = [
        (
            hsm.uri("token=nope;object=rsa-root"),
            "no token matches token='nope' (tokens present: upd-keys)",
        ),
        (
            hsm.uri("token=upd-keys;object=nope"),
            "no public key matching object='nope' on token 'upd-keys'",
        ),
        (
            format!(
                "{}&pin-value=9999",
                hsm.uri("token=upd-keys;object=rsa-root")
            ),
            "login to token 'upd-keys' failed: the PIN is wrong",
        ),
        (
            "pkcs11:token=upd-keys;object=rsa-root?module-path=/nonexistent/libnothing.so"
                .to_owned(),
            "PKCS#11 module /nonexistent/libnothing.so",
        ),
        (
            "pkcs11:token=upd-keys;object=rsa-root?module-name=libnothing-here".to_owned(),
            "PKCS#11 module 'libnothing-here' not found",
        ),
        (
            "pkcs11:token=upd-keys;object=rsa-root;slot-id=3?module-path=/x.so".to_owned(),
            "unsupported path attribute 'slot-id'",
        ),
    ];
    for (key, why) in cases {
        let v = hsm.validate(&art, &key);
        assert_eq!(v.code, 2, "{key}: {}", v.stderr);
        assert!(
            v.stderr.contains(why),
            "{key}: expected {why:?} in {}",
            v.stderr
        );
        assert!(!v.stderr.contains("9999"), "the PIN must not be printed");
    }
}

#[test]
fn softhsm_two_keys_with_one_label_are_ambiguous() {
    let hsm = SoftHsm::new();
    hsm.import(&fx().path("rsa2.pub"), "rsa-root", "04");
    let v = hsm.validate(
        &fx().bytes("mod-rsa.mender"),
        &hsm.uri("token=upd-keys;object=rsa-root"),
    );
    assert_eq!(v.code, 2, "{}", v.stderr);
    assert!(
        v.stderr.contains("2 public keys match object='rsa-root'"),
        "{}",
        v.stderr
    );
    // The id tells them apart.
    let v = hsm.validate(
        &fx().bytes("mod-rsa.mender"),
        &hsm.uri("token=upd-keys;object=rsa-root;id=%01"),
    );
    assert_eq!(v.code, 0, "{}", v.stderr);
}

#[test]
fn softhsm_module_found_by_name() {
    let hsm = SoftHsm::new();
    let v = hsm.validate(
        &fx().bytes("mod-rsa.mender"),
        "pkcs11:token=upd-keys;object=rsa-root?module-name=libsofthsm2",
    );
    assert_eq!(v.code, 0, "{}", v.stderr);
}

/// `install` with `good_key`/`bad_key` in mender.conf's ArtifactVerifyKeys, run through `run`
/// (which adds the token's environment): the bad key refuses the install before anything runs,
/// the good one installs through Debian's single-file module.
fn install_with_key_in_mender_conf(
    run: &dyn Fn(&Scratch, &[&str]) -> Verdict,
    good_key: &str,
    bad_key: &str,
    why_bad: &str,
) {
    let s = Scratch::new();
    let conf = |key: &str| {
        s.write(
            "etc/mender.conf",
            serde_json::json!({ "ArtifactVerifyKeys": [key] })
                .to_string()
                .as_bytes(),
        );
    };
    s.write("var/device_type", b"device_type=beaglebone\n");
    let modules = s.root().join("share/modules/v3");
    std::fs::create_dir_all(&modules).unwrap();
    std::fs::copy(
        "/usr/share/mender/modules/v3/single-file",
        modules.join("single-file"),
    )
    .unwrap();
    let target = s.root().join("target");
    let art = crate::fixtures::app_artifact(&s, "token-app", "from the token test\n", &[]);
    let art = art.to_str().unwrap();

    conf(bad_key);
    let v = run(&s, &["install", art]);
    assert_eq!(v.code, 1, "{}", v.stderr);
    assert!(
        v.stderr.contains(why_bad),
        "expected {why_bad:?} in {}",
        v.stderr
    );
    assert!(
        !target.join("app.conf").exists(),
        "nothing may be installed"
    );
    assert!(
        !s.root().join("var/modules").exists(),
        "no module may have been started"
    );

    conf(good_key);
    let v = run(&s, &["install", art]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_eq!(
        std::fs::read_to_string(target.join("app.conf")).unwrap(),
        "from the token test\n"
    );
}

#[test]
fn install_with_a_softhsm_key_in_mender_conf() {
    let hsm = SoftHsm::new();
    install_with_key_in_mender_conf(
        &|s, args| hsm.run(s, args),
        &hsm.uri("token=upd-keys;object=rsa-root"),
        &hsm.uri("token=upd-keys;object=missing"),
        "no public key matching object='missing'",
    );
}

// --- TPM ---------------------------------------------------------------------------------------

pub(crate) const TPM2_PKCS11: &str = "/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so";

/// A software TPM (swtpm) with a tpm2-pkcs11 store holding token `upd-tpm` (user PIN 1234):
/// the fixtures' RSA-3072 public key as `rsa-pub` (id 21), written through PKCS#11 alone, and,
/// with `with_ec`, the fixtures' P-256 key imported by tpm2_ptool as `ec-root`, which needs the
/// tpm2-abrmd resource manager on a private D-Bus for the import. Verification always uses the
/// direct `swtpm:` TCTI, as a device uses /dev/tpmrm0.
pub(crate) struct Tpm {
    dir: tempfile::TempDir,
    port: u16,
    pids: Vec<u32>,
}

impl Tpm {
    /// A fresh swtpm and nothing in it, for what tpm2-tools do directly (NV counters).
    pub(crate) fn bare() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port_pair();
        let mut tpm = Self {
            dir,
            port,
            pids: Vec::new(),
        };
        let w = tpm.dir.path().to_owned();
        std::fs::create_dir_all(w.join("state")).unwrap();
        std::fs::create_dir_all(w.join("store")).unwrap();
        ok(Command::new("swtpm")
            .args(["socket", "--tpm2", "--server"])
            .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
            .arg("--ctrl")
            .arg(format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1))
            .arg("--tpmstate")
            .arg(format!("dir={}", w.join("state").display()))
            .args([
                "--flags",
                "not-need-init,startup-clear",
                "--daemon",
                "--pid",
            ])
            .arg(format!("file={}", w.join("swtpm.pid").display())));
        tpm.adopt_pid(&w.join("swtpm.pid"));
        tpm
    }

    pub(crate) fn new(with_ec: bool) -> Self {
        let mut tpm = Self::bare();
        let w = tpm.dir.path().to_owned();
        let der = w.join("rsa.pub.der");
        ok(Command::new("openssl")
            .args(["pkey", "-pubin", "-in"])
            .arg(fx().path("rsa.pub"))
            .args(["-outform", "DER", "-out"])
            .arg(&der));
        if with_ec {
            tpm.provision_with_abrmd();
        } else {
            let p11 = |args: &[&str]| {
                ok(tpm
                    .p11_command("pkcs11-tool")
                    .args(["--module", TPM2_PKCS11])
                    .args(args));
            };
            p11(&["--init-token", "--label", "upd-tpm", "--so-pin", "12345678"]);
            p11(&[
                "--token-label",
                "upd-tpm",
                "--login",
                "--login-type",
                "so",
                "--so-pin",
                "12345678",
                "--init-pin",
                "--pin",
                "1234",
            ]);
        }
        ok(tpm
            .p11_command("pkcs11-tool")
            .args(["--module", TPM2_PKCS11, "--token-label", "upd-tpm"])
            .args(["--login", "--pin", "1234", "--write-object"])
            .arg(&der)
            .args(["--type", "pubkey", "--label", "rsa-pub", "--id", "21"]));
        if cfg!(target_pointer_width = "32") {
            tpm.narrow_store_for_32_bit();
        }
        tpm
    }

    /// tpm2-pkcs11 keeps CK_ULONG attributes as text. The 64-bit provisioning tools write
    /// CK_UNAVAILABLE_INFORMATION (~0) as 2^64-1, which a 32-bit build of the library (the ARM
    /// binary under test) refuses to parse; a store provisioned on a 32-bit device holds
    /// 2^32-1 there. This rewrites the store as the device would have written it.
    pub(crate) fn narrow_store_for_32_bit(&self) {
        let script = r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for (table,) in db.execute("select name from sqlite_master where type = 'table'").fetchall():
    for column in [c[1] for c in db.execute(f"pragma table_info({table})")]:
        db.execute(f"update {table} set {column} = replace({column}, '18446744073709551615', '4294967295') where typeof({column}) = 'text'")
db.commit()
"#;
        ok(Command::new("python3")
            .args(["-c", script])
            .arg(self.dir.path().join("store/tpm2_pkcs11.sqlite3")));
    }

    /// tpm2_ptool needs a resource manager: a private D-Bus with tpm2-abrmd for the import,
    /// both stopped again before verification (swtpm serves one client at a time).
    fn provision_with_abrmd(&mut self) {
        let w = self.dir.path().to_owned();
        let out = ok(Command::new("dbus-daemon").args([
            "--session",
            "--fork",
            "--print-address=1",
            "--print-pid=1",
        ]));
        let mut lines = out.lines();
        let address = lines.next().unwrap().to_owned();
        let dbus_pid: u32 = lines.next().unwrap().trim().parse().unwrap();
        self.pids.push(dbus_pid);
        let mut abrmd = Command::new("tpm2-abrmd")
            .args(["--session", "--allow-root", "--flush-all"])
            .arg(format!("--tcti=swtpm:host=127.0.0.1,port={}", self.port))
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.pids.push(abrmd.id());
        let tools = |program: &str| {
            let mut c = Command::new(program);
            c.env("DBUS_SESSION_BUS_ADDRESS", &address)
                .env("TPM2TOOLS_TCTI", "tabrmd:bus_type=session")
                .env("TPM2_PKCS11_TCTI", "tabrmd:bus_type=session")
                .env("TPM2_PKCS11_STORE", w.join("store"));
            c
        };
        let ready = (0..100).any(|_| {
            let up = tools("tpm2_getrandom")
                .arg("4")
                .output()
                .is_ok_and(|o| o.status.success());
            if !up {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            up
        });
        assert!(ready, "tpm2-abrmd did not come up");
        let store = w.join("store");
        let store = store.to_str().unwrap();
        ok(tools("tpm2_ptool").args(["init", "--path", store]));
        ok(tools("tpm2_ptool").args([
            "addtoken",
            "--path",
            store,
            "--pid=1",
            "--label=upd-tpm",
            "--userpin=1234",
            "--sopin=12345678",
        ]));
        ok(tools("tpm2_ptool")
            .args(["import", "--path", store, "--label", "upd-tpm"])
            .args(["--key-label", "ec-root", "--id", "02", "--userpin", "1234"])
            .args(["--algorithm", "ecc", "--privkey"])
            .arg(fx().path("ec.key")));
        let _ = abrmd.kill();
        let _ = abrmd.wait();
        self.pids.retain(|p| *p != abrmd.id());
        kill(dbus_pid);
        self.pids.retain(|p| *p != dbus_pid);
    }

    fn adopt_pid(&mut self, file: &Path) {
        let pid = std::fs::read_to_string(file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        self.pids.push(pid);
    }

    pub(crate) fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }

    pub(crate) fn p11_command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("TPM2_PKCS11_TCTI", self.tcti())
            .env("TPM2_PKCS11_STORE", self.dir.path().join("store"));
        c
    }

    /// What a process using the token needs in its environment.
    pub(crate) fn env(&self) -> Vec<(String, std::ffi::OsString)> {
        vec![
            ("TPM2_PKCS11_TCTI".into(), self.tcti().into()),
            (
                "TPM2_PKCS11_STORE".into(),
                self.dir.path().join("store").into(),
            ),
            ("TPM2_PKCS11_LOG_LEVEL".into(), "0".into()),
        ]
    }

    fn run(&self, s: &Scratch, args: &[&str]) -> Verdict {
        let tcti = self.tcti();
        let store = self.dir.path().join("store");
        gate_env(
            args,
            s.root(),
            &[
                ("TPM2_PKCS11_TCTI", OsStr::new(&tcti)),
                ("TPM2_PKCS11_STORE", store.as_os_str()),
                ("TPM2_PKCS11_LOG_LEVEL", OsStr::new("0")),
            ],
        )
    }

    fn validate(&self, bytes: &[u8], key: &str) -> Verdict {
        let s = Scratch::new();
        let path = s.write("under-test.mender", bytes);
        self.run(&s, &["validate", "-k", key, path.to_str().unwrap()])
    }

    fn pin_file(&self, pin: &str) -> PathBuf {
        let path = self.dir.path().join(format!("pin-{pin}"));
        std::fs::write(&path, format!("{pin}\n")).unwrap();
        path
    }

    fn uri(&self, object: &str, pin: &str) -> String {
        format!(
            "pkcs11:token=upd-tpm;object={object};type=public?module-path={TPM2_PKCS11}&pin-source=file:{}",
            self.pin_file(pin).display()
        )
    }
}

impl Drop for Tpm {
    fn drop(&mut self) {
        for pid in self.pids.drain(..) {
            kill(pid);
        }
    }
}

fn kill(pid: u32) {
    let _ = Command::new("kill").arg(pid.to_string()).status();
}

/// Two consecutive free TCP ports on 127.0.0.1 (swtpm's server and control ports).
fn free_port_pair() -> u16 {
    for _ in 0..50 {
        let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = first.local_addr().unwrap().port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no free port pair");
}

#[test]
fn tpm_rsa_public_key_verifies_and_rejects_another_signer() {
    let tpm = Tpm::new(false);
    let key = tpm.uri("rsa-pub", "1234");
    let v = tpm.validate(&fx().bytes("mod-rsa.mender"), &key);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stdout.contains("token=upd-tpm;object=rsa-pub") && v.stdout.contains("RSA PKCS#1 v1.5"),
        "{}",
        v.stdout
    );
    let v = tpm.validate(&resigned("mod-rsa.mender", Signer::Rsa("rsa2.key")), &key);
    assert_eq!(v.code, 1, "{}", v.stderr);
    assert!(
        v.stderr
            .contains("RSA signature does not match the manifest"),
        "{}",
        v.stderr
    );
}

#[test]
fn tpm_keys_fail_closed_without_pin_with_a_wrong_pin_or_object() {
    let tpm = Tpm::new(false);
    let art = fx().bytes("mod-rsa.mender");
    let no_pin = format!("pkcs11:token=upd-tpm;object=rsa-pub?module-path={TPM2_PKCS11}");
    let cases = [
        (no_pin, "token 'upd-tpm' requires a user login to verify"),
        (
            tpm.uri("rsa-pub", "9999"),
            "login to token 'upd-tpm' failed: the PIN is wrong",
        ),
        (
            tpm.uri("nope", "1234"),
            "no public key matching object='nope' on token 'upd-tpm'",
        ),
    ];
    for (key, why) in cases {
        let v = tpm.validate(&art, &key);
        assert_eq!(v.code, 2, "{key}: {}", v.stderr);
        assert!(
            v.stderr.contains(why),
            "{key}: expected {why:?} in {}",
            v.stderr
        );
    }
}

#[test]
fn tpm_ec_key_imported_by_tpm2_ptool_verifies_and_rejects_another_signer() {
    let tpm = Tpm::new(true);
    let key = tpm.uri("ec-root", "1234");
    let v = tpm.validate(&fx().bytes("mod-ec.mender"), &key);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stdout.contains("verified on the token") && v.stdout.contains("ECDSA P-256"),
        "{}",
        v.stdout
    );
    let v = tpm.validate(
        &resigned("mod-ec.mender", Signer::EcdsaDer("ec2.key")),
        &key,
    );
    assert_eq!(v.code, 1, "{}", v.stderr);
    assert!(
        v.stderr.contains("ECDSA P-256 signature does not match"),
        "{}",
        v.stderr
    );
    // The RSA public key written through PKCS#11 sits beside it.
    let v = tpm.validate(&fx().bytes("mod-rsa.mender"), &tpm.uri("rsa-pub", "1234"));
    assert_eq!(v.code, 0, "{}", v.stderr);
}

#[test]
fn install_with_a_tpm_key_in_mender_conf() {
    let tpm = Tpm::new(false);
    install_with_key_in_mender_conf(
        &|s, args| tpm.run(s, args),
        &tpm.uri("rsa-pub", "1234"),
        &tpm.uri("rsa-pub", "9999"),
        "the PIN is wrong",
    );
}
