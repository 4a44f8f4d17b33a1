//! Genuine artifacts from every supported signer and format must validate.

use crate::fixtures::{Art, Dialect, Scratch, Signer, Verdict, fx, gate, vectors_dir};

fn validate_fixture(artifact: &str, key: &str) -> Verdict {
    Scratch::new().validate(&fx().bytes(artifact), key)
}

#[test]
fn rsa_3072_gzip_module_image() {
    let v = validate_fixture("mod-rsa.mender", "rsa.pub");
    v.valid();
    assert!(v.stdout.contains("'mod-rsa'"), "{}", v.stdout);
    assert!(v.stdout.contains("RSA PKCS#1 v1.5"), "{}", v.stdout);
    assert!(v.stdout.contains("2 file(s)"), "{}", v.stdout);
}

#[test]
fn rsa_uncompressed_module_image() {
    validate_fixture("mod-none.mender", "rsa.pub").valid();
}

#[test]
fn p256_raw_signature_lzma_rootfs_image_with_legacy_empty_type() {
    // Debian's mender-artifact 3.9.0 writes type-info "type":"" for rootfs-image (spec §5.3).
    let art = Art::open("rootfs-ec.mender");
    let header = crate::fixtures::untar(&{
        let mut out = Vec::new();
        std::io::Read::read_to_end(
            &mut liblzma::read::XzDecoder::new(art.get("header.tar.xz")),
            &mut out,
        )
        .unwrap();
        out
    });
    let type_info = header
        .iter()
        .find(|m| m.name == "headers/0000/type-info")
        .unwrap();
    assert!(String::from_utf8_lossy(&type_info.data).contains(r#""type":"""#));
    let v = validate_fixture("rootfs-ec.mender", "ec.pub");
    v.valid();
    assert!(v.stdout.contains("raw r||s"), "{}", v.stdout);
}

#[test]
fn p256_lzma_module_image_for_two_device_types() {
    validate_fixture("mod-ec.mender", "ec.pub").valid();
}

#[test]
fn rootfs_image_with_state_script() {
    let s = Scratch::new();
    let key = fx().path("rsa.pub");
    let v = s.run(&[
        "read",
        "--json",
        "-k",
        key.to_str().unwrap(),
        fx().path("rootfs-rsa.mender").to_str().unwrap(),
    ]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    let json: serde_json::Value = serde_json::from_str(&v.stdout).unwrap();
    assert_eq!(
        json["scripts"],
        serde_json::json!(["ArtifactInstall_Enter_00"])
    );
    assert_eq!(json["payload"]["type"], "rootfs-image");
    assert_eq!(json["signature"]["status"], "verified");
    assert_eq!(
        json["payload"]["files"][0]["sha256"],
        "dc66c40bc3e52e1d0d3f46f417cbb8e12a86bc63b2a9b3be91ee77aa0fd680b0"
    );
}

#[test]
fn bootstrap_artifacts_with_empty_payload() {
    validate_fixture("boot.mender", "rsa.pub").valid();
    let v = validate_fixture("boot-gz.mender", "rsa.pub");
    v.valid();
    assert!(
        v.stdout.contains("empty payload, 0 file(s)"),
        "{}",
        v.stdout
    );
}

#[test]
fn upstream_vector_70_byte_der_ecdsa_from_a_nitrokey() {
    let dir = vectors_dir();
    let s = Scratch::new();
    let v = s.run(&[
        "validate",
        "-k",
        dir.join("a0-signed-nitro.ec.pem").to_str().unwrap(),
        dir.join("a0-signed-nitro.mender").to_str().unwrap(),
    ]);
    v.valid();
    assert!(v.stdout.contains("(DER)"), "{}", v.stdout);
}

#[test]
fn der_ecdsa_signatures_of_any_length() {
    // OpenSSL's DER signatures vary in length (70–72 bytes, rarely shorter); sign several
    // manifests so more than one length is exercised.
    let mut lengths = std::collections::BTreeSet::new();
    for _ in 0..12 {
        // ECDSA is randomised: each re-signing gives another signature, of varying length.
        let mut art = Art::open("mod-none.mender");
        art.resign(Signer::EcdsaDer("ec.key"));
        let sig = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            art.get("manifest.sig"),
        )
        .unwrap();
        lengths.insert(sig.len());
        let v = Scratch::new().validate(&art.bytes(), "ec.pub");
        v.valid();
        assert!(v.stdout.contains("(DER)"), "{}", v.stdout);
    }
    assert!(!lengths.is_empty());
}

#[test]
fn ed25519_over_manifest_and_over_its_digest() {
    let mut art = Art::open("mod-none.mender");
    art.resign(Signer::Ed25519("ed.key"));
    let v = Scratch::new().validate(&art.bytes(), "ed.pub");
    v.valid();
    assert!(v.stdout.contains("(Ed25519)"), "{}", v.stdout);

    art.resign(Signer::Ed25519Digest("ed.key"));
    let v = Scratch::new().validate(&art.bytes(), "ed.pub");
    v.valid();
    assert!(
        v.stdout.contains("Ed25519 over SHA-256 digest"),
        "{}",
        v.stdout
    );
}

#[test]
fn rsa_pss_signature() {
    let mut art = Art::open("mod-none.mender");
    art.resign(Signer::RsaPss("rsa.key"));
    let v = Scratch::new().validate(&art.bytes(), "rsa.pub");
    v.valid();
    assert!(v.stdout.contains("RSA-PSS"), "{}", v.stdout);
}

#[test]
fn keys_as_certificates_and_pkcs1() {
    validate_fixture("rootfs-ec.mender", "ec.cert.pem").valid();
    validate_fixture("rootfs-ec.mender", "ec.cer").valid();
    validate_fixture("mod-rsa.mender", "rsa.cer").valid();
    validate_fixture("mod-rsa.mender", "rsa.pkcs1.pub").valid();
}

#[test]
fn signature_with_one_trailing_newline() {
    let mut art = Art::open("mod-none.mender");
    let mut sig = art.get("manifest.sig").to_vec();
    sig.push(b'\n');
    art.set("manifest.sig", sig);
    Scratch::new().validate(&art.bytes(), "rsa.pub").valid();
}

#[test]
fn gnu_and_pax_outer_tar_dialects() {
    let art = Art::open("mod-rsa.mender");
    for dialect in [Dialect::Gnu, Dialect::Pax] {
        Scratch::new()
            .validate(&art.bytes_in(dialect), "rsa.pub")
            .valid();
    }
}

#[test]
fn keys_are_tried_in_order_first_match_wins() {
    let s = Scratch::new();
    let (wrong, right) = (fx().path("rsa2.pub"), fx().path("rsa.pub"));
    let v = s.run(&[
        "validate",
        "-k",
        wrong.to_str().unwrap(),
        "-k",
        right.to_str().unwrap(),
        fx().path("mod-rsa.mender").to_str().unwrap(),
    ]);
    v.valid();
    assert!(v.stdout.contains(right.to_str().unwrap()), "{}", v.stdout);
}

#[test]
fn stdin_input() {
    let s = Scratch::new();
    let key = fx().path("rsa.pub");
    let out = crate::fixtures::gate_with_stdin(
        &["validate", "-k", key.to_str().unwrap(), "-"],
        s.root(),
        Some(&fx().bytes("mod-rsa.mender")),
    );
    Verdict::from(out).valid();
}

#[test]
fn device_type_match() {
    let s = Scratch::new();
    let key = fx().path("ec.pub");
    let art = fx().path("mod-ec.mender");
    for t in ["beaglebone", "qemux86"] {
        Verdict::from(gate(
            &[
                "validate",
                "-k",
                key.to_str().unwrap(),
                "--device-type",
                t,
                art.to_str().unwrap(),
            ],
            s.root(),
        ))
        .valid();
    }
}

#[test]
fn header_json_keys_are_case_insensitive() {
    // Both Mender clients match header JSON keys case-insensitively (spec §5.2).
    let mut art = Art::open("mod-none.mender");
    let mut members = crate::fixtures::untar(art.get("header.tar"));
    for m in &mut members {
        let text = String::from_utf8(m.data.clone()).unwrap();
        m.data = text
            .replace("\"payloads\"", "\"Payloads\"")
            .replace("\"artifact_provides\"", "\"ARTIFACT_PROVIDES\"")
            .replace("\"type\"", "\"Type\"")
            .into_bytes();
    }
    let header = crate::fixtures::tar(&members, Dialect::Ustar);
    art.set("header.tar", header.clone());
    art.rehash("header.tar", &header, Signer::Rsa("rsa.key"));
    let v = Scratch::new().validate(&art.bytes(), "rsa.pub");
    v.valid();
    assert!(v.stdout.contains("'mod-none' (single-file"), "{}", v.stdout);
}

#[test]
fn zstd_compressed_header_and_payload() {
    // Debian's mender-artifact 3.9.0 cannot write zstd; recompress its gzip output instead.
    let mut art = Art::open("mod-rsa.mender");
    let header = crate::fixtures::gunzip(art.get("header.tar.gz"));
    let data = crate::fixtures::gunzip(art.get("data/0000.tar.gz"));
    let header_zst = zstd::encode_all(&header[..], 3).unwrap();
    let data_zst = zstd::encode_all(&data[..], 3).unwrap();
    art.set("header.tar.gz", header_zst.clone())
        .rename("header.tar.gz", "header.tar.zst")
        .set("data/0000.tar.gz", data_zst)
        .rename("data/0000.tar.gz", "data/0000.tar.zst");
    let manifest: String = art
        .manifest()
        .lines()
        .map(|l| {
            if l.ends_with("  header.tar.gz") {
                format!(
                    "{}  header.tar.zst\n",
                    crate::fixtures::sha256_hex(&header_zst)
                )
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    art.set_manifest(&manifest, Signer::Rsa("rsa.key"));
    let s = Scratch::new();
    let path = s.write("zst.mender", &art.bytes());
    let v = s.run(&[
        "read",
        "--json",
        "-k",
        fx().path("rsa.pub").to_str().unwrap(),
        path.to_str().unwrap(),
    ]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    let json: serde_json::Value = serde_json::from_str(&v.stdout).unwrap();
    assert_eq!(json["compression"], "zstd");
    assert_eq!(json["payload"]["files"].as_array().unwrap().len(), 2);
}
