//! Strictness and clear messages (issue #12): malformed PAX headers in all three tars, payload
//! names by mender-artifact's rule, exact duplicate JSON keys, messages for a missing header, a
//! type-info at the wrong index, a cut compressed stream, non-object JSON and an empty data entry.
//! Every rejection goes through `Verdict::fails`, which also asserts the message is free of
//! debug syntax and raw control bytes.

use crate::fixtures::{
    Art, Dialect, Member, Scratch, Signer, fx, gzip, pax_record, sha256_hex, tar, tar_with_pax,
    untar,
};

const KEY: &str = "rsa.pub";
const SIGNER: Signer<'static> = Signer::Rsa("rsa.key");

fn rejected(bytes: &[u8], why: &str) {
    Scratch::new().validate(bytes, KEY).fails(1, why);
}

/// The uncompressed module artifact (payload `f1.txt`, `z2.bin`).
fn plain() -> Art {
    Art::open("mod-none.mender")
}

/// The malformed PAX records each tar is tried with, and the reason each must name.
fn malformed_pax() -> Vec<(Vec<u8>, &'static str)> {
    vec![
        (
            pax_record("size=abc"),
            "record 1 ('size'): value 'abc' is not a non-negative decimal number",
        ),
        (
            pax_record("size=-1"),
            "record 1 ('size'): value '-1' is not a non-negative decimal number",
        ),
        (
            pax_record("size=99999999999999999999"),
            "record 1 ('size'): value 99999999999999999999 does not fit in a signed 64-bit number",
        ),
        (
            pax_record("uid=12x"),
            "record 1 ('uid'): value '12x' is not a non-negative decimal number",
        ),
        (
            b"30 size=5\n".to_vec(),
            "record 1: its length prefix says 30 bytes",
        ),
        (
            b"8 size=5\n".to_vec(),
            "record 1: its length prefix says 8 bytes",
        ),
        (
            pax_record("sizeonly"),
            "record 1: has no '=' between key and value",
        ),
        (
            pax_record("path=x\0y"),
            "record 1 ('path'): value holds a NUL byte",
        ),
        (
            pax_record("GNU.sparse.major=1"),
            "record 1 ('GNU.sparse.major'): describes a sparse file",
        ),
        (
            [pax_record("mtime=1"), pax_record("mtime=2")].concat(),
            "record 2 ('mtime'): appears twice in one header",
        ),
    ]
}

#[test]
fn malformed_pax_in_the_outer_tar_is_refused_naming_member_and_record() {
    let art = plain();
    for (records, why) in malformed_pax() {
        let bytes = tar_with_pax(&art.members, 0, &records);
        rejected(
            &bytes,
            &format!("artifact: PAX extended header of member 'version': {why}"),
        );
    }
}

#[test]
fn malformed_pax_in_the_header_tar_is_refused_naming_member_and_record() {
    for (records, why) in malformed_pax() {
        let mut art = plain();
        let header = tar_with_pax(&untar(art.get("header.tar")), 0, &records);
        art.set("header.tar", header.clone())
            .rehash("header.tar", &header, SIGNER);
        rejected(
            &art.bytes(),
            &format!(
                "header archive is malformed: PAX extended header of member 'header-info': {why}"
            ),
        );
    }
}

#[test]
fn malformed_pax_in_the_payload_tar_is_refused_naming_member_and_record() {
    for (records, why) in malformed_pax() {
        let mut art = plain();
        let payload = tar_with_pax(&untar(art.get("data/0000.tar")), 1, &records);
        art.set("data/0000.tar", payload);
        rejected(
            &art.bytes(),
            &format!("'data/0000.tar': PAX extended header of member 'z2.bin': {why}"),
        );
    }
}

#[test]
fn well_formed_pax_headers_still_pass_in_every_tar() {
    // The same harness with valid records: the tests above cannot pass vacuously.
    let mut art = plain();
    let records = [
        pax_record("mtime=1700000000.5"),
        pax_record("uname=builder"),
    ]
    .concat();
    let header = tar_with_pax(&untar(art.get("header.tar")), 0, &records);
    art.set("header.tar", header.clone())
        .rehash("header.tar", &header, SIGNER);
    let payload = tar_with_pax(&untar(art.get("data/0000.tar")), 1, &records);
    art.set("data/0000.tar", payload);
    let bytes = tar_with_pax(&art.members, 0, &records);
    Scratch::new().validate(&bytes, KEY).valid();
}

#[test]
fn global_pax_headers_are_refused() {
    let mut art = plain();
    let mut g = Member::file("pax_global_header", &pax_record("comment=x"));
    g.kind = tar::EntryType::XGlobalHeader;
    art.members.insert(0, g);
    rejected(
        &art.bytes(),
        "artifact member 'pax_global_header' is a PAX global header; only regular files are allowed",
    );
}

/// `plain()` with one more payload file `name`, listed in a re-signed manifest.
fn with_payload_file(name: &str) -> Vec<u8> {
    let mut art = plain();
    let mut files = untar(art.get("data/0000.tar"));
    files.push(Member::file(name, b"x"));
    art.set("data/0000.tar", tar(&files, Dialect::Ustar));
    let text = format!("{}{}  data/0000/{name}\n", art.manifest(), sha256_hex(b"x"));
    art.set_manifest(&text, SIGNER);
    art.bytes()
}

#[test]
fn payload_names_outside_mender_artifacts_characters_are_refused_escaped() {
    let rule = "payload file names may hold only ASCII letters, digits and '.', ',', '_', '-'";
    // mender-artifact's own reader test refuses `test_update*`.
    for (name, shown) in [
        ("test_update*", "test_update*"),
        ("caf\u{e9}.txt", "caf\\u{e9}.txt"),
        ("a+b", "a+b"),
        ("rtl\u{202e}txt.exe", "rtl\\u{202e}txt.exe"),
    ] {
        rejected(
            &with_payload_file(name),
            &format!("manifest line 5: payload path 'data/0000/{shown}': {rule}"),
        );
    }
    // A name within the rule passes the same harness.
    Scratch::new()
        .validate(&with_payload_file("ok,name_1-2.bin"), KEY)
        .valid();
}

/// `plain()` with header member `member`'s JSON rewritten by `edit` (re-signed).
fn with_header_json(member: &str, edit: impl FnOnce(String) -> String) -> Vec<u8> {
    let mut art = plain();
    let mut members = untar(art.get("header.tar"));
    let m = members.iter_mut().find(|m| m.name == member).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&m.data).unwrap();
    m.data = edit(serde_json::to_string(&value).unwrap()).into_bytes();
    let header = tar(&members, Dialect::Ustar);
    art.set("header.tar", header.clone())
        .rehash("header.tar", &header, SIGNER);
    art.bytes()
}

#[test]
fn exact_duplicate_json_keys_are_refused_in_every_header_member() {
    rejected(
        &with_header_json("header-info", |t| {
            t.replacen(
                "\"artifact_name\":",
                "\"artifact_name\":\"evil\",\"artifact_name\":",
                1,
            )
        }),
        "header member 'header-info' is not valid JSON: key 'artifact_name' appears twice in one object",
    );
    rejected(
        &with_header_json("headers/0000/type-info", |t| {
            t.replacen("{", "{\"type\":\"directory\",", 1)
        }),
        "header member 'headers/0000/type-info' is not valid JSON: key 'type' appears twice",
    );

    let mut art = plain();
    let mut members = untar(art.get("header.tar"));
    members.push(Member::file(
        "headers/0000/meta-data",
        br#"{"a":{"b":1,"b":2}}"#,
    ));
    let header = tar(&members, Dialect::Ustar);
    art.set("header.tar", header.clone())
        .rehash("header.tar", &header, SIGNER);
    rejected(
        &art.bytes(),
        "header member 'headers/0000/meta-data' is not valid JSON: key 'b' appears twice",
    );

    let mut art = plain();
    let version = br#"{"format":"mender","version":3,"version":3}"#.to_vec();
    art.set("version", version.clone())
        .rehash("version", &version, SIGNER);
    rejected(
        &art.bytes(),
        "'version' is not {\"format\":\"mender\",\"version\":3}: key 'version' appears twice",
    );
}

#[test]
fn a_missing_header_is_called_missing() {
    let mut art = plain();
    art.members.retain(|m| m.name != "header.tar");
    rejected(
        &art.bytes(),
        "the artifact has no header: 'data/0000.tar' comes where 'header.tar[.gz|.xz|.zst]' must stand",
    );
}

#[test]
fn a_type_info_at_the_wrong_index_says_so() {
    let mut art = plain();
    let mut members = untar(art.get("header.tar"));
    for m in &mut members {
        m.name = m.name.replace("headers/0000/", "headers/0001/");
    }
    let header = tar(&members, Dialect::Ustar);
    art.set("header.tar", header.clone())
        .rehash("header.tar", &header, SIGNER);
    rejected(
        &art.bytes(),
        "header member 'headers/0001/type-info' is at payload index 0001, but the artifact's only payload is 0000",
    );
}

#[test]
fn a_compressed_payload_cut_before_its_end_marker_says_so() {
    // mod-rsa's payload is gzip; the container is cut short and its tar entry shrunk to match,
    // so only the compressed stream itself is incomplete.
    let mut art = Art::open("mod-rsa.mender");
    let data = art.get("data/0000.tar.gz").to_vec();
    art.set("data/0000.tar.gz", data[..data.len() - 12].to_vec());
    rejected(
        &art.bytes(),
        "'data/0000.tar.gz' is cut short: its compressed stream stops before its end marker",
    );
}

#[test]
fn a_json_document_that_is_not_an_object_names_its_member() {
    rejected(
        &with_header_json("headers/0000/type-info", |_| "[1,2]".to_owned()),
        "header member 'headers/0000/type-info': the document must be a JSON object",
    );
    rejected(
        &with_header_json("header-info", |_| "\"text\"".to_owned()),
        "header member 'header-info': the document must be a JSON object",
    );
}

#[test]
fn an_empty_data_entry_says_it_is_empty() {
    let mut art = plain();
    art.set("data/0000.tar", Vec::new());
    rejected(
        &art.bytes(),
        "entry 'data/0000.tar' is empty (0 bytes); a payload container holds at least a tar \
         end-of-archive marker",
    );
    // A gzip container holding an empty tar is not empty: the same place, a different verdict.
    let mut art = plain();
    art.set("data/0000.tar", gzip(&[0; 1024]));
    let v = Scratch::new().validate(&art.bytes(), KEY);
    assert!(!v.stderr.contains("is empty"), "{}", v.stderr);
}

#[test]
fn artifact_strings_are_printed_escaped_by_an_unsigned_read() {
    // `read` describes unsigned artifacts too: a control byte in a name or provides value must
    // reach the terminal escaped.
    let dir = Scratch::new();
    crate::fixtures::run_ok(
        std::process::Command::new("mender-artifact")
            .current_dir(fx().root.as_path())
            .args(["write", "module-image", "-T", "single-file", "-n"])
            .arg("evil\u{1b}[2Jname")
            .args(["-t", "beaglebone", "-f", "f1.txt", "--compression", "none"])
            .args(["-p", "rootfs-image.version:v\u{7}1", "-o"])
            .arg(dir.root().join("evil.mender")),
    );
    let path = dir.root().join("evil.mender");
    let v = dir.run(&["read", path.to_str().unwrap()]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stdout.contains("Name: evil\\u{1b}[2Jname"),
        "{}",
        v.stdout
    );
    assert!(
        v.stdout.contains("rootfs-image.version: v\\u{7}1"),
        "{}",
        v.stdout
    );
    crate::fixtures::assert_operator_words(&v.stdout);
    // The same strings in a rejection (wrong device type) are escaped too.
    let v = dir.run(&[
        "validate",
        "--allow-unsigned",
        "--device-type",
        "qemux86",
        path.to_str().unwrap(),
    ]);
    assert_eq!(v.code, 1, "{}", v.stderr);
    crate::fixtures::assert_operator_words(&v.stderr);
}
