//! What `validate` and `read` print: the one-line verdict, the JSON description and the text
//! report. Every string from the artifact is escaped.

use serde_json::{Value, json};

use crate::artifact::{PayloadType, VerifiedArtifact};
use crate::error::escape::escaped;
use crate::signature::Trust;

pub(super) fn verdict(v: &VerifiedArtifact) -> String {
    let bytes: u64 = v.files().iter().map(|f| f.size()).sum();
    let kind = v.header().payload_type().name().unwrap_or("empty payload");
    let trust = match &v.trust() {
        Trust::Verified {
            key, scheme, scope, ..
        } => format!(
            "signature verified with key '{key}' ({}){}",
            scheme.name(),
            scope.as_ref().map_or_else(String::new, |s| format!(
                ", admitted by its scope ({})",
                s.describe()
            ))
        ),
        Trust::DangerUnverified { signed: true } => {
            "WARNING: signed, but the signature was NOT verified (no key configured)".to_owned()
        }
        Trust::DangerUnverified { signed: false } => {
            "WARNING: unsigned; only checksums were verified".to_owned()
        }
    };
    format!(
        "valid: artifact '{}' ({}, {} file(s), {bytes} bytes); {trust}; manifest_sha256 {}",
        escaped(&v.header().artifact_name()),
        escaped(kind),
        v.files().len(),
        hex::encode(v.manifest_sha256())
    )
}

fn trust_json(trust: &Trust) -> Value {
    match trust {
        Trust::Verified {
            key,
            scheme,
            fingerprint,
            scope,
        } => json!({
            "status": "verified", "key": key, "scheme": scheme.name(),
            "key_fingerprint": fingerprint,
            "key_scope": scope.as_ref().map(crate::signature::KeyScope::describe)
        }),
        Trust::DangerUnverified { signed } => json!({
            "status": if *signed { "signed-not-verified" } else { "unsigned" },
            "key": null, "scheme": null
        }),
    }
}

pub(super) fn describe(v: &VerifiedArtifact) -> Value {
    let h = &v.header();
    json!({
        "name": h.artifact_name(),
        "group": h.artifact_group(),
        "format": "mender",
        "format_version": v.format_version(),
        "compression": v.compression().to_string(),
        "signature": trust_json(v.trust()),
        "manifest_sha256": hex::encode(v.manifest_sha256()),
        "device_types": h.device_types(),
        "depends": {
            "artifact_name": h.depends_artifact_name(),
            "artifact_group": h.depends_artifact_group(),
        },
        "payload": {
            "type": h.payload_type().name(),
            "provides": h.provides(),
            "depends": h.depends(),
            "clears_provides": h.clears_provides(),
            "meta_data": h.meta_data(),
            "files": v.files().iter().map(|f| json!({
                "name": f.name(), "size": f.size(), "sha256": hex::encode(f.sha256())
            })).collect::<Vec<_>>(),
        },
        "scripts": h.scripts().iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
    })
}

/// The artifact's own strings escaped for a terminal (see [`crate::error::escape`]), joined by `, `.
fn escaped_join<T: AsRef<[u8]>>(values: &[T]) -> String {
    values
        .iter()
        .map(|v| escaped(v).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `read`'s text report. Every string from the artifact is escaped: `read` also describes
/// unsigned artifacts, whose strings nobody vouches for.
pub(super) fn render_text(v: &VerifiedArtifact) -> String {
    let h = &v.header();
    let mut s = String::new();
    let mut line = |text: String| {
        s.push_str(&text);
        s.push('\n');
    };
    line("Mender artifact:".to_owned());
    line(format!("  Name: {}", escaped(&h.artifact_name())));
    line(format!("  Format: mender, version {}", v.format_version()));
    line(format!("  Compression: {}", v.compression()));
    line(format!(
        "  Manifest SHA-256: {}",
        hex::encode(v.manifest_sha256())
    ));
    let sig = match &v.trust() {
        Trust::Verified {
            key,
            scheme,
            fingerprint,
            ..
        } => format!(
            "verified with '{key}' ({}, key {})",
            scheme.name(),
            fingerprint.as_deref().unwrap_or("fingerprint unknown")
        ),
        Trust::DangerUnverified { signed: true } => "signed, NOT verified (no key)".to_owned(),
        Trust::DangerUnverified { signed: false } => "unsigned".to_owned(),
    };
    line(format!("  Signature: {sig}"));
    line(format!(
        "  Compatible devices: {}",
        escaped_join(h.device_types())
    ));
    line(format!(
        "  Provides group: {}",
        escaped(h.artifact_group().unwrap_or(""))
    ));
    line(format!(
        "  Depends on artifact(s): {}",
        escaped_join(h.depends_artifact_name())
    ));
    line(format!(
        "  Depends on group(s): {}",
        escaped_join(h.depends_artifact_group())
    ));
    let scripts: Vec<&str> = h.scripts().iter().map(|(n, _)| n.as_str()).collect();
    line(format!("  State scripts: {}", escaped_join(&scripts)));
    line("Payload 0:".to_owned());
    let kind = match &h.payload_type() {
        PayloadType::Empty => "(empty)".to_owned(),
        PayloadType::Named(n) => escaped(n).to_string(),
    };
    line(format!("  Type: {kind}"));
    line("  Provides:".to_owned());
    for (k, val) in h.provides() {
        line(format!("    {}: {}", escaped(k), escaped(val)));
    }
    line("  Depends:".to_owned());
    for (k, val) in h.depends() {
        line(format!("    {}: {}", escaped(k), escaped_join(val)));
    }
    if let Some(clears) = &h.clears_provides() {
        line(format!("  Clears provides: {}", escaped_join(clears)));
    }
    line("  Files:".to_owned());
    for f in v.files() {
        line(format!(
            "    {}  {} bytes  sha256 {}",
            escaped(&f.name()),
            f.size(),
            hex::encode(f.sha256())
        ));
    }
    s.trim_end().to_owned()
}
