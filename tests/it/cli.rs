//! Configuration, key handling and exit codes, through the binary.

use crate::fixtures::{Art, Dialect, Scratch, fx, tar, untar};

fn art(name: &str) -> String {
    fx().path(name).to_str().unwrap().to_owned()
}

fn key(name: &str) -> String {
    art(name)
}

fn conf(s: &Scratch, rel: &str, json: &str) {
    s.write(rel, json.as_bytes());
}

#[test]
fn no_key_configured_is_a_configuration_error() {
    let s = Scratch::new();
    s.run(&["validate", &art("mod-rsa.mender")])
        .fails(2, "no verification key configured");
}

#[test]
fn allow_unsigned_still_checks_every_checksum() {
    let s = Scratch::new();
    let v = s.run(&["validate", "--allow-unsigned", &art("mod-unsigned.mender")]);
    v.valid();
    assert!(v.stdout.contains("WARNING: unsigned"), "{}", v.stdout);

    let mut bad = Art::open("mod-none.mender");
    let mut files = untar(bad.get("data/0000.tar"));
    files[0].data[0] ^= 1;
    bad.set("data/0000.tar", tar(&files, Dialect::Ustar));
    let path = s.write("bad.mender", &bad.bytes());
    s.run(&["validate", "--allow-unsigned", path.to_str().unwrap()])
        .fails(1, "checksum mismatch for 'data/0000/");
}

#[test]
fn allow_unsigned_does_not_weaken_a_configured_key() {
    let s = Scratch::new();
    s.run(&[
        "validate",
        "--allow-unsigned",
        "-k",
        &key("rsa.pub"),
        &art("mod-unsigned.mender"),
    ])
    .fails(1, "artifact is not signed");
}

#[test]
fn key_from_mender_conf_in_mender_conf_dir() {
    let s = Scratch::new();
    conf(
        &s,
        "etc/mender.conf",
        &format!(r#"{{"ArtifactVerifyKey":"{}"}}"#, key("rsa.pub")),
    );
    s.run(&["validate", &art("mod-rsa.mender")]).valid();
}

#[test]
fn key_names_are_case_insensitive() {
    let s = Scratch::new();
    conf(
        &s,
        "etc/mender.conf",
        &format!(r#"{{"artifactverifykey":"{}"}}"#, key("rsa.pub")),
    );
    s.run(&["validate", &art("mod-rsa.mender")]).valid();
}

#[test]
fn fallback_config_in_datastore_and_main_overrides_it() {
    let s = Scratch::new();
    conf(
        &s,
        "var/mender.conf",
        &format!(r#"{{"ArtifactVerifyKey":"{}"}}"#, key("rsa.pub")),
    );
    s.run(&["validate", &art("mod-rsa.mender")]).valid();
    conf(
        &s,
        "etc/mender.conf",
        &format!(r#"{{"ArtifactVerifyKey":"{}"}}"#, key("rsa2.pub")),
    );
    s.run(&["validate", &art("mod-rsa.mender")])
        .fails(1, "no configured key verifies");
}

#[test]
fn key_list_tries_each_key() {
    let s = Scratch::new();
    conf(
        &s,
        "etc/mender.conf",
        &format!(
            r#"{{"ArtifactVerifyKeys":["{}","{}"]}}"#,
            key("ec2.pub"),
            key("ec.pub")
        ),
    );
    let v = s.run(&["validate", &art("rootfs-ec.mender")]);
    v.valid();
    assert!(v.stdout.contains("ec.pub"), "{}", v.stdout);
}

#[test]
fn every_failed_key_is_named() {
    let s = Scratch::new();
    conf(
        &s,
        "etc/mender.conf",
        &format!(
            r#"{{"ArtifactVerifyKeys":["{}","{}"]}}"#,
            key("ec2.pub"),
            key("rsa.pub")
        ),
    );
    let v = s.run(&["validate", &art("rootfs-ec.mender")]);
    v.fails(1, "ec2.pub': ECDSA P-256 signature does not match");
    v.fails(1, "rsa.pub': RSA signature must be 384 bytes, found 64");
}

#[test]
fn explicit_config_file() {
    let s = Scratch::new();
    let path = s.write(
        "custom.conf",
        format!(r#"{{"ArtifactVerifyKey":"{}"}}"#, key("rsa.pub")).as_bytes(),
    );
    s.run(&[
        "validate",
        "--config",
        path.to_str().unwrap(),
        &art("mod-rsa.mender"),
    ])
    .valid();
    let missing = s.root().join("missing.conf");
    s.run(&[
        "validate",
        "--config",
        missing.to_str().unwrap(),
        &art("mod-rsa.mender"),
    ])
    .fails(2, "does not exist");
}

#[test]
fn fail_closed_on_bad_configuration() {
    let cases: Vec<(String, &str)> = vec![
        (
            r#"{"ArtifactVerifyKey": "/x",}"#.into(),
            "is not valid JSON",
        ),
        (
            format!(
                r#"{{"ArtifactVerifyKey":"{0}","ArtifactVerifyKeys":["{0}"]}}"#,
                key("rsa.pub")
            ),
            "both ArtifactVerifyKey",
        ),
        (
            format!(r#"{{"ArtifactVerifyKeys":"{}"}}"#, key("rsa.pub")),
            "'ArtifactVerifyKeys' must be an array of strings",
        ),
        (
            r#"{"ArtifactVerifyKey": 7}"#.into(),
            "'ArtifactVerifyKey' must be a string",
        ),
        (
            r#"{"ArtifactVerifyKey": "/nonexistent/key.pem"}"#.into(),
            "cannot read verify key /nonexistent/key.pem",
        ),
        (
            format!(r#"{{"ArtifactVerifyKey":"{}"}}"#, key("rsa.key")),
            "this is a private key",
        ),
        (
            format!(r#"{{"ArtifactVerifyKey":"{}"}}"#, key("rsa1024.pub")),
            "RSA key of 1024 bits is too small",
        ),
        (
            format!(r#"{{"ArtifactVerifyKey":"{}"}}"#, key("p384.pub")),
            "unsupported elliptic curve",
        ),
        (
            format!(r#"{{"ArtifactVerifyKey":"{}"}}"#, key("f1.txt")),
            "not a public key or certificate",
        ),
        ("[]".into(), "must hold a JSON object"),
        (
            r#"{"ArtifactVerifyKey": "/dev/zero"}"#.into(),
            "file is larger than 1048576 bytes",
        ),
    ];
    for (json, why) in cases {
        let s = Scratch::new();
        conf(&s, "etc/mender.conf", &json);
        s.run(&["validate", &art("mod-rsa.mender")]).fails(2, why);
    }
}

#[test]
fn unreadable_key_given_on_the_command_line() {
    let s = Scratch::new();
    s.run(&["validate", "-k", "/nonexistent.pem", &art("mod-rsa.mender")])
        .fails(2, "cannot read verify key /nonexistent.pem");
}

#[test]
fn input_failures_exit_3() {
    let s = Scratch::new();
    s.run(&["validate", "-k", &key("rsa.pub"), "/nonexistent.mender"])
        .fails(3, "cannot open /nonexistent.mender");
    // A directory opens but cannot be read: an I/O failure, not a bad artifact.
    s.run(&[
        "validate",
        "-k",
        &key("rsa.pub"),
        s.root().to_str().unwrap(),
    ])
    .fails(3, "reading the artifact failed");
}

#[test]
fn usage_errors_exit_2_and_help_explains_exit_codes() {
    let s = Scratch::new();
    let v = s.run(&["validate"]);
    assert_eq!(v.code, 2, "{}", v.stderr);
    let v = s.run(&["--help"]);
    assert_eq!(v.code, 0);
    assert!(v.stdout.contains("1 artifact rejected"), "{}", v.stdout);
    let v = s.run(&["validate", "--help"]);
    assert!(v.stdout.contains("--allow-unsigned"), "{}", v.stdout);
    assert!(v.stdout.contains("DANGER"), "{}", v.stdout);
}

#[test]
fn read_reports_without_a_key_but_says_so() {
    let s = Scratch::new();
    let v = s.run(&["read", "--json", &art("mod-rsa.mender")]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    let json: serde_json::Value = serde_json::from_str(&v.stdout).unwrap();
    assert_eq!(json["signature"]["status"], "signed-not-verified");
    assert_eq!(json["name"], "mod-rsa");
    assert_eq!(json["device_types"], serde_json::json!(["beaglebone"]));
    assert_eq!(json["payload"]["type"], "single-file");
    assert_eq!(
        json["payload"]["provides"]["rootfs-image.single-file.version"],
        "mod-rsa"
    );
    assert_eq!(
        json["payload"]["clears_provides"],
        serde_json::json!(["rootfs-image.single-file.*"])
    );
    let names: Vec<&str> = json["payload"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["z2.bin", "f1.txt"]);
    assert_eq!(json["payload"]["files"][0]["size"], 100_000);

    let v = s.run(&["read", "-k", &key("rsa.pub"), &art("mod-rsa.mender")]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stdout.contains("Signature: verified with"),
        "{}",
        v.stdout
    );
    s.run(&["read", "-k", &key("rsa2.pub"), &art("mod-rsa.mender")])
        .fails(1, "no configured key verifies");
}

#[test]
fn limits_come_from_the_settings_file_and_limit_overrides_them() {
    let s = Scratch::new();
    let artifact = art("mod-rsa.mender");
    let size = std::fs::metadata(&artifact).unwrap().len();
    // The daemon's settings file caps the artifact below its size: the command line obeys.
    s.write(
        "etc/artifact-gate.toml",
        format!("[limits]\nmax_artifact_bytes = {}\n", size / 2).as_bytes(),
    );
    s.run(&["validate", "-k", &key("rsa.pub"), &artifact])
        .fails(
            1,
            &format!("artifact is larger than the limit of {} bytes", size / 2),
        );
    // --limit overrides the file for this run, with a unit.
    s.run(&[
        "validate",
        "--limit",
        "max_artifact_bytes=1GiB",
        "-k",
        &key("rsa.pub"),
        &artifact,
    ])
    .valid();
    s.run(&[
        "read",
        "--limit",
        "max_artifact_bytes=1024",
        "-k",
        &key("rsa.pub"),
        &artifact,
    ])
    .fails(1, "artifact is larger than the limit of 1024 bytes");
}

#[test]
fn bad_limits_are_configuration_errors() {
    let s = Scratch::new();
    let artifact = art("mod-rsa.mender");
    let rsa = key("rsa.pub");
    s.run(&["validate", "--limit", "max_bogus=1", "-k", &rsa, &artifact])
        .fails(
            2,
            "--limit max_bogus=1: unknown field `max_bogus`, expected one of",
        );
    s.run(&[
        "validate",
        "--limit",
        "max_header_bytes",
        "-k",
        &rsa,
        &artifact,
    ])
    .fails(2, "--limit max_header_bytes: expected KEY=VALUE");
    s.run(&[
        "validate",
        "--limit",
        "max_header_bytes=8TB",
        "-k",
        &rsa,
        &artifact,
    ])
    .fails(2, "unknown unit 'TB' (use KiB, MiB or GiB)");
    s.run(&[
        "validate",
        "--limit",
        "max_artifact_bytes=99999999999999GiB",
        "-k",
        &rsa,
        &artifact,
    ])
    .fails(2, "is not a whole number of bytes or files");
    // A broken settings file is not skipped: the limits it meant to set would be lost.
    s.write(
        "etc/artifact-gate.toml",
        b"[limits]\nmax_artifact_byte = 5\n",
    );
    s.run(&["validate", "-k", &rsa, &artifact])
        .fails(2, "max_artifact_byte");
}

#[test]
fn json_output_carries_the_failure_class_code_and_message_and_the_exit_code_follows_the_class() {
    let s = Scratch::new();
    let failure = |args: &[&str]| {
        let v = s.run(args);
        let json: serde_json::Value = serde_json::from_str(&v.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", v.stdout));
        let error = json["error"].clone();
        // The same message goes to stderr, for people.
        let message = error["message"].as_str().unwrap_or_default().to_owned();
        assert!(
            !message.is_empty() && v.stderr.contains(&message),
            "{}",
            v.stderr
        );
        (v.code, error["class"].clone(), error["code"].clone())
    };
    // Rejected: signed by a key other than the one given.
    let (code, class, which) = failure(&[
        "read",
        "--json",
        "-k",
        &key("rsa.pub"),
        &art("mod-ec.mender"),
    ]);
    assert_eq!(
        (code, class.as_str(), which.as_str()),
        (1, Some("rejected"), Some("signature_invalid"))
    );
    // Configuration: the key file named does not exist.
    let (code, class, which) = failure(&[
        "read",
        "--json",
        "-k",
        "/nonexistent.pem",
        &art("mod-rsa.mender"),
    ]);
    assert_eq!(
        (code, class.as_str(), which.as_str()),
        (2, Some("config"), Some("key_invalid"))
    );
    // Failed: the artifact cannot be opened.
    let (code, class, which) = failure(&[
        "read",
        "--json",
        "-k",
        &key("rsa.pub"),
        "/nonexistent.mender",
    ]);
    assert_eq!(
        (code, class.as_str(), which.as_str()),
        (3, Some("failed"), Some("source_unavailable"))
    );
}

/// Runs the binary pinned to one CPU, as on a BeagleBone Black (issue #17).
fn on_one_cpu(s: &Scratch, args: &[&str]) -> crate::fixtures::Verdict {
    let mut cmd = std::process::Command::new("taskset");
    cmd.args(["-c", "0", env!("CARGO_BIN_EXE_artifact-gate")])
        .args(args);
    let out = crate::fixtures::with_scratch_env(&mut cmd, s.root())
        .output()
        .expect("taskset (util-linux)");
    crate::fixtures::Verdict::from(out)
}

#[test]
fn on_one_cpu_the_payload_is_inflated_and_hashed_inline_and_still_checked() {
    let s = Scratch::new();
    let good = on_one_cpu(
        &s,
        &[
            "-vv",
            "validate",
            "-k",
            &key("rsa.pub"),
            &art("mod-rsa.mender"),
        ],
    );
    good.valid();
    assert!(
        good.stderr
            .contains("data/0000.tar.gz: inflating and hashing on this thread"),
        "one CPU must take the inline path: {}",
        good.stderr
    );
    let both = s.run(&[
        "-vv",
        "validate",
        "-k",
        &key("rsa.pub"),
        &art("mod-rsa.mender"),
    ]);
    both.valid();
    if std::thread::available_parallelism().map_or(1, usize::from) > 1 {
        assert!(
            both.stderr
                .contains("inflating and hashing on worker threads"),
            "{}",
            both.stderr
        );
    }
    // One byte changed inside the gzip payload: the inline hash catches it at that file's end.
    let mut bad = Art::open("mod-rsa.mender");
    let mut files = untar(&crate::fixtures::gunzip(bad.get("data/0000.tar.gz")));
    let z2 = files
        .iter_mut()
        .find(|f| f.name == "z2.bin")
        .expect("z2.bin in the payload");
    z2.data[50_000] ^= 1;
    bad.set(
        "data/0000.tar.gz",
        crate::fixtures::gzip(&tar(&files, Dialect::Ustar)),
    );
    let path = s.write("bad.mender", &bad.bytes());
    on_one_cpu(
        &s,
        &["validate", "-k", &key("rsa.pub"), path.to_str().unwrap()],
    )
    .fails(1, "checksum mismatch for 'data/0000/z2.bin'");
}
