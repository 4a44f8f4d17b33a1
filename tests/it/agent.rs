//! The Mender server agent (issue #15) against the stand-in of Mender's device API, whose
//! faithfulness is shown first: Debian's real Go client completes a deployment through it,
//! and it refuses what a real server refuses.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::daemon::{Daemon, env_of};
use crate::fixtures::{app_artifact, app_target};
use crate::standin::{GoClient, Server, curl, device, quick_device_key};

fn requests(state: &Value) -> Vec<String> {
    state["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

fn ended(server: &Server, id: &str) -> bool {
    server
        .statuses(id)
        .last()
        .is_some_and(|s| s == "success" || s == "failure")
}

#[test]
fn debian_mender_client_completes_a_deployment_through_the_standin() {
    let web = crate::fixtures::Scratch::new();
    let server = Server::start(web.root(), &["--auto-accept"]);
    let s = device(&server, "");
    let artifact = app_artifact(&s, "release-2", "from the Go client\n", &[]);
    server.deploy(
        "0b5a4c56-0001-4000-8000-000000000001",
        "release-2",
        &artifact,
        json!({}),
    );
    let go = GoClient::start(&s);
    let state = server.wait_for("the Go client's success", &|| go.log_text(), |st| {
        st["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["status"] == "success")
    });
    let statuses = server.statuses("0b5a4c56-0001-4000-8000-000000000001");
    assert!(statuses.contains(&"downloading".to_owned()), "{statuses:?}");
    assert!(statuses.contains(&"installing".to_owned()), "{statuses:?}");
    assert_eq!(statuses.last().map(String::as_str), Some("success"));
    assert_eq!(app_target(&s).as_deref(), Some("from the Go client\n"));
    let reqs = requests(&state);
    assert!(
        reqs.iter()
            .any(|r| r == "POST /api/devices/v1/authentication/auth_requests 200"),
        "{reqs:?}"
    );
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("PUT /api/devices/v1/inventory/device/attributes 200")),
        "{reqs:?}"
    );
    let device = &state["devices"][0];
    assert_eq!(device["id_data"]["serial"], "standin-test");
    let inventory = state["inventory"][device["id"].as_str().unwrap()]
        .as_array()
        .unwrap()
        .clone();
    assert!(inventory.iter().any(|a| a["name"] == "os"), "{inventory:?}");
}

#[test]
fn the_standin_refuses_what_a_real_server_refuses() {
    let web = crate::fixtures::Scratch::new();
    let server = Server::start(web.root(), &["--auto-accept"]);
    let key = web.root().join("dev.pem");
    let pubkey = web.root().join("dev.pub");
    let ok = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl ecparam -name prime256v1 -genkey -noout -out {k} && openssl ec -in {k} -pubout -out {p}",
            k = key.display(),
            p = pubkey.display()
        ))
        .status()
        .unwrap();
    assert!(ok.success());
    let body = json!({
        "id_data": "{\"mac\":\"aa\"}",
        "pubkey": std::fs::read_to_string(&pubkey).unwrap(),
        "tenant_token": ""
    })
    .to_string();
    let body_file = web.write("body.json", body.as_bytes());
    let sign = |file: &std::path::Path| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "openssl dgst -sha256 -sign {} {} | base64 -w0",
                key.display(),
                file.display()
            ))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let auth = "/api/devices/v1/authentication/auth_requests";
    let json_type = "Content-Type: application/json";
    let good = format!("X-MEN-Signature: {}", sign(&body_file));
    let (code, token) = curl(&server, "POST", auth, &[json_type, &good], &body);
    assert_eq!(code, 200, "{token}");
    // A signature over other bytes, none at all, a body that is not JSON or lacks a field.
    let other = web.write("other.json", b"{}");
    let wrong = format!("X-MEN-Signature: {}", sign(&other));
    assert_eq!(
        curl(&server, "POST", auth, &[json_type, &wrong], &body).0,
        401
    );
    assert_eq!(curl(&server, "POST", auth, &[json_type], &body).0, 400);
    assert_eq!(
        curl(&server, "POST", auth, &[json_type, &good], "not json").0,
        400
    );
    assert_eq!(
        curl(
            &server,
            "POST",
            auth,
            &[json_type, &good],
            r#"{"id_data":"{}"}"#
        )
        .0,
        400
    );
    // Every other call needs the token.
    let next = "/api/devices/v1/deployments/device/deployments/next?artifact_name=a&device_type=b";
    let bearer = format!("Authorization: Bearer {token}");
    assert_eq!(curl(&server, "GET", next, &[], "").0, 401);
    assert_eq!(
        curl(&server, "GET", next, &["Authorization: Bearer forged"], "").0,
        401
    );
    assert_eq!(curl(&server, "GET", next, &[&bearer], "").0, 204);
    let status = "/api/devices/v1/deployments/device/deployments/nope/status";
    assert_eq!(
        curl(
            &server,
            "PUT",
            status,
            &[&bearer, json_type],
            r#"{"status":"bogus"}"#
        )
        .0,
        400
    );
    assert_eq!(
        curl(
            &server,
            "PUT",
            status,
            &[&bearer, json_type],
            r#"{"status":"success"}"#
        )
        .0,
        404
    );
    let inventory = "/api/devices/v1/inventory/device/attributes";
    assert_eq!(
        curl(
            &server,
            "PUT",
            inventory,
            &[&bearer, json_type],
            r#"{"name":"x"}"#
        )
        .0,
        400
    );
    // Without the v2 flag the Enterprise endpoint is not there, as on an open-source server.
    let v2 = "/api/devices/v2/deployments/device/deployments/next";
    assert_eq!(
        curl(
            &server,
            "POST",
            v2,
            &[&bearer, json_type],
            r#"{"device_provides":{}}"#
        )
        .0,
        404
    );
}

#[test]
fn the_agent_waits_to_be_accepted_then_reports_a_deployment_through_to_success() {
    let web = crate::fixtures::Scratch::new();
    let server = Server::start(web.root(), &[]);
    let s = device(&server, r#""RetryPollIntervalSeconds":2"#);
    let artifact = app_artifact(&s, "release-2", "from the agent\n", &[]);
    let daemon = Daemon::start(s.root(), "", env_of(&s));
    // Not accepted yet: it keeps asking, backing off, never spinning. (The first request waits
    // for the RSA 3072 key, which takes a while under emulation.)
    let first = server.wait_for("the first auth request", &|| daemon.log_text(), |st| {
        st["auth_requests"].as_u64().unwrap() > 0
    })["auth_requests"]
        .as_u64()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let asked = server.state()["auth_requests"].as_u64().unwrap() - first;
    assert!(
        (1..=5).contains(&asked),
        "{asked} more auth requests in 4 s"
    );
    assert_eq!(daemon.status()["server"]["authenticated"], false);
    assert!(
        daemon.log_text().contains("has not accepted this device"),
        "{}",
        daemon.log_text()
    );
    // The key made on first start: RSA 3072, private to root.
    let key = s.root().join("var/mender-agent.pem");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    server.deploy(
        "0b5a4c56-0002-4000-8000-000000000002",
        "release-2",
        &artifact,
        json!({}),
    );
    server.control("/_control/accept", &json!({}));
    let state = server.wait_for("the agent's success", &|| daemon.log_text(), |st| {
        st["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["status"] == "success")
    });
    assert_eq!(
        server.statuses("0b5a4c56-0002-4000-8000-000000000002"),
        ["downloading", "installing", "success"]
    );
    assert_eq!(app_target(&s).as_deref(), Some("from the agent\n"));
    let device = &state["devices"][0];
    assert!(
        device["id_data"]["mac"]
            .as_str()
            .unwrap()
            .starts_with("52:54:00")
    );
    let inventory = state["inventory"][device["id"].as_str().unwrap()]
        .as_array()
        .unwrap()
        .clone();
    let value = |n: &str| {
        inventory
            .iter()
            .find(|a| a["name"] == n)
            .map(|a| a["value"].clone())
    };
    assert_eq!(value("device_type"), Some(json!("beaglebone")));
    assert_eq!(value("os"), Some(json!("Debian GNU/Linux")));
    assert!(value("artifact_gate_version").is_some(), "{inventory:?}");
    // The open-source server has no v2 endpoint: the agent fell back to v1 POST.
    let reqs = requests(&state);
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("POST /api/devices/v2/deployments/device/deployments/next 404")),
        "{reqs:?}"
    );
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("POST /api/devices/v1/deployments/device/deployments/next 200")),
        "{reqs:?}"
    );
    assert!(
        daemon.status()["server"]["last_result"]
            .as_str()
            .unwrap()
            .contains("success")
    );
    // The same artifact deployed again (forced, so the server does not settle it itself): the
    // device runs it already, and says so without downloading it.
    let again = "0b5a4c56-0002-4000-8000-0000000000a2";
    server.deploy(again, "release-2", &artifact, json!({"force": true}));
    server.wait_for("already-installed", &|| daemon.log_text(), |_| {
        server
            .statuses(again)
            .last()
            .is_some_and(|s| s == "already-installed")
    });
    assert_eq!(server.statuses(again), ["already-installed"]);
    let downloads = crate::resume::statuses(&server.nginx, &format!("/artifacts/{again}.mender"));
    assert!(downloads.is_empty(), "{downloads:?}");
}

#[test]
fn a_tampered_artifact_fails_the_deployment_with_a_log_that_names_the_checksum() {
    let web = crate::fixtures::Scratch::new();
    let server = Server::start(web.root(), &["--auto-accept"]);
    // Polls an hour apart: the deployment starts only through `check-update`.
    let s = device(&server, r#""UpdatePollIntervalSeconds":3600"#);
    quick_device_key(&s);
    let art = app_artifact(
        &s,
        "release-3",
        &crate::web::payload(3),
        &["--compression", "none"],
    );
    let mut bytes = std::fs::read(&art).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&art, &bytes).unwrap();
    let daemon = Daemon::start(s.root(), "", env_of(&s));
    server.wait_for("the first inventory", &|| daemon.log_text(), |st| {
        !st["inventory"].as_object().unwrap().is_empty()
    });
    let id = "0b5a4c56-0003-4000-8000-000000000003";
    server.deploy(id, "release-3", &art, json!({}));
    let socket = s.root().join("run/api.sock");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_artifact-gate"))
        .arg("check-update")
        .env("ARTIFACT_GATE_SOCKET", &socket)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state = server.wait_for("the failure", &|| daemon.log_text(), |_| ended(&server, id));
    assert_eq!(server.statuses(id), ["downloading", "failure"]);
    let log = &state["logs"][0];
    assert_eq!(log["deployment"], id);
    let last = log["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["level"], "error");
    let words = last["message"].as_str().unwrap();
    assert!(
        words.contains("(rejected)") && words.contains("checksum"),
        "{words}"
    );
    assert_eq!(app_target(&s), None, "a tampered artifact was installed");
    // `send-inventory` through the daemon: one more inventory at once, not in 30 s.
    let sent = |st: &Value| {
        requests(st)
            .iter()
            .filter(|r| r.starts_with("PUT /api/devices/v1/inventory"))
            .count()
    };
    let before = sent(&server.state());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_artifact-gate"))
        .arg("send-inventory")
        .env("ARTIFACT_GATE_SOCKET", &socket)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.wait_for("another inventory", &|| daemon.log_text(), |st| {
        sent(st) > before
    });
}

#[test]
fn server_errors_back_off_and_an_expired_token_is_renewed_once() {
    let web = crate::fixtures::Scratch::new();
    let server = Server::start(web.root(), &["--auto-accept", "--v2"]);
    let s = device(&server, "");
    quick_device_key(&s);
    // The first three polls meet a failing server.
    server.control(
        "/_control/fail",
        &json!({"prefix": "/api/devices/v2/deployments", "count": 3, "status": 503}),
    );
    let daemon = Daemon::start(s.root(), "", env_of(&s));
    let started = Instant::now();
    server.wait_for(
        "three failed polls and a good one",
        &|| daemon.log_text(),
        |st| {
            requests(st)
                .iter()
                .filter(|r| r.ends_with(" 204") && r.contains("/v2/"))
                .count()
                >= 1
        },
    );
    // 1 s ceiling: waits of 0.5–1 s between, not a tight loop, and not the hour-long poll.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(
        daemon.log_text().contains("server_error"),
        "{}",
        daemon.log_text()
    );
    let auths = server.state()["auth_requests"].as_u64().unwrap();
    // Tokens revoked: the next call gets a 401, the agent authenticates once more and goes on.
    server.control("/_control/expire-tokens", &json!({}));
    let id = "0b5a4c56-0004-4000-8000-000000000004";
    let art = app_artifact(&s, "release-4", "after a renewal\n", &[]);
    server.deploy(id, "release-4", &art, json!({}));
    let state = server.wait_for("the success", &|| daemon.log_text(), |_| ended(&server, id));
    assert_eq!(
        server.statuses(id).last().map(String::as_str),
        Some("success")
    );
    assert_eq!(state["auth_requests"].as_u64().unwrap(), auths + 1);
    assert_eq!(app_target(&s).as_deref(), Some("after a renewal\n"));
    // The Enterprise endpoint answered: no fallback to v1.
    assert!(
        !requests(&state)
            .iter()
            .any(|r| r.contains("/v1/deployments/device/deployments/next"))
    );
}

#[test]
fn a_deployment_aborted_on_the_server_stops_before_anything_is_installed() {
    let web = crate::fixtures::Scratch::new();
    let server = Server::start(web.root(), &["--auto-accept"]);
    let s = device(&server, "");
    quick_device_key(&s);
    let id = "0b5a4c56-0005-4000-8000-000000000005";
    let art = app_artifact(&s, "release-5", "aborted\n", &[]);
    server.deploy(id, "release-5", &art, json!({"abort_on": "installing"}));
    let daemon = Daemon::start(s.root(), "", env_of(&s));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !daemon.log_text().contains("aborted on the server") {
        assert!(Instant::now() < deadline, "{}", daemon.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(server.statuses(id), ["downloading"]);
    assert!(server.state()["logs"].as_array().unwrap().is_empty());
    assert_eq!(app_target(&s), None, "an aborted deployment was installed");
    let status = daemon.status();
    assert!(status["pending"].is_null(), "{status}");
    assert!(!s.root().join("var/artifact-gate/deployment.json").exists());
}

#[test]
fn a_download_link_that_drops_mid_way_is_resumed() {
    let web = crate::fixtures::Scratch::new();
    let server = Server::start(web.root(), &["--auto-accept"]);
    let s = device(&server, "");
    quick_device_key(&s);
    let proxy =
        crate::web::Proxy::start(server.nginx.port, vec![crate::web::Fault::CutAt(400_000)]);
    let id = "0b5a4c56-0006-4000-8000-000000000006";
    let content = crate::web::payload(6);
    let art = app_artifact(&s, "release-6", &content, &["--compression", "none"]);
    server.deploy(
        id,
        "release-6",
        &art,
        json!({"uri": proxy.url(&format!("artifacts/{id}.mender"))}),
    );
    let daemon = Daemon::start(s.root(), "", env_of(&s));
    server.wait_for("the success", &|| daemon.log_text(), |_| ended(&server, id));
    assert_eq!(
        server.statuses(id),
        ["downloading", "installing", "success"]
    );
    assert_eq!(app_target(&s).as_deref(), Some(content.as_str()));
    let seen = crate::resume::statuses(&server.nginx, &format!("/artifacts/{id}.mender"));
    assert_eq!(seen, [200, 206], "{}", daemon.log_text());
    assert!(
        daemon
            .log_text()
            .contains("download complete after 1 resume")
    );
}

#[test]
fn an_ab_deployment_reports_rebooting_then_success_after_the_boot_check_commits() {
    let web = crate::fixtures::Scratch::new();
    let server = Server::start(web.root(), &["--auto-accept"]);
    let dev = crate::device::Device::new(crate::device::PART);
    // The A/B device's mender.conf, pointed at the server.
    let conf_path = dev.s.root().join("etc/mender.conf");
    let mut conf: Value = serde_json::from_slice(&std::fs::read(&conf_path).unwrap()).unwrap();
    let with = device(&server, "");
    let server_conf: Value =
        serde_json::from_slice(&std::fs::read(with.root().join("etc/mender.conf")).unwrap())
            .unwrap();
    for key in [
        "ServerURL",
        "ServerCertificate",
        "UpdatePollIntervalSeconds",
        "RetryPollIntervalSeconds",
    ] {
        conf[key] = server_conf[key].clone();
    }
    std::fs::write(&conf_path, conf.to_string()).unwrap();
    crate::standin::script(
        &dev.s,
        "share/identity/mender-device-identity",
        "echo mac=52:54:00:ab:ab:ab",
    );
    quick_device_key(&dev.s);
    let rebooted = dev.s.root().join("rebooted");
    let toml = format!(
        "[update]\nreboot_after_install = true\nreboot_command = [\"touch\", \"{}\"]\n",
        rebooted.display()
    );
    let id = "0b5a4c56-0007-4000-8000-000000000007";
    server.deploy(
        id,
        "rootfs-rsa",
        &crate::fixtures::fx().path("rootfs-rsa.mender"),
        json!({}),
    );
    let mut d = Daemon::start(dev.s.root(), &toml, dev.env());
    server.wait_for("rebooting", &|| d.log_text(), |_| {
        server.statuses(id).last().is_some_and(|s| s == "rebooting")
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !rebooted.exists() {
        assert!(Instant::now() < deadline, "no reboot: {}", d.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        dev.s
            .root()
            .join("var/artifact-gate/deployment.json")
            .exists()
    );
    assert_eq!(d.status()["pending"]["artifact_name"], "rootfs-rsa");
    // The deployment's id is kept with the pending install.
    let pending: Value = serde_json::from_slice(
        &std::fs::read(dev.s.root().join("var/artifact-gate/pending-install.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(pending["deployment"], id);
    // The reboot: the bootloader started partition 3; the boot check commits, and the agent
    // reports the deployment kept across the reboot.
    d.restart(&[("ARTIFACT_GATE_ROOT_DEVICE", &dev.part_path(3))]);
    server.wait_for("success", &|| d.log_text(), |_| ended(&server, id));
    assert_eq!(
        server.statuses(id),
        ["downloading", "installing", "rebooting", "success"]
    );
    assert_eq!(d.status()["last_boot_check"]["result"], "committed");
    assert!(
        !dev.s
            .root()
            .join("var/artifact-gate/deployment.json")
            .exists()
    );
}

/// A daemon whose `[server] device_key` is `uri` authenticates, and the server knows it by the
/// public key that `read_public` (pkcs11-tool on the token) reads out of the token.
fn token_key_authenticates(
    uri: &str,
    env: Vec<(String, std::ffi::OsString)>,
    read_public: &dyn Fn() -> Vec<u8>,
) {
    let web = crate::fixtures::Scratch::new();
    let server = Server::start(web.root(), &["--auto-accept"]);
    let s = device(&server, "");
    let mut all = env_of(&s);
    all.extend(env);
    let daemon = Daemon::start(
        s.root(),
        &format!("[server]\ndevice_key = \"{uri}\"\n"),
        all,
    );
    let state = server.wait_for("an accepted token key", &|| daemon.log_text(), |st| {
        !st["inventory"].as_object().unwrap().is_empty()
    });
    assert!(
        !s.root().join("var/mender-agent.pem").exists(),
        "a key file was made"
    );
    let der = read_public();
    let mut openssl = std::process::Command::new("openssl")
        .args(["pkey", "-pubin", "-inform", "DER", "-outform", "PEM"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut openssl.stdin.take().unwrap(), &der).unwrap();
    let pem = String::from_utf8(openssl.wait_with_output().unwrap().stdout).unwrap();
    assert!(pem.contains("BEGIN PUBLIC KEY"), "{pem}");
    let devices = state["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1);
    let flat = |t: &str| t.split_whitespace().collect::<String>();
    assert_eq!(flat(devices[0]["pubkey"].as_str().unwrap()), flat(&pem));
    assert!(
        daemon.log_text().contains("signing on the token"),
        "{}",
        daemon.log_text()
    );
}

/// Runs pkcs11-tool (`command`, with its token's environment) with `fixed` then `args`; its
/// output.
fn pkcs11_tool(mut command: std::process::Command, fixed: &[&str], args: &[&str]) -> Vec<u8> {
    let out = command.args(fixed).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn a_device_key_in_softhsm_signs_the_auth_requests_on_the_token() {
    let hsm = crate::tokens::SoftHsm::new();
    let p11 = |args: &[&str]| {
        pkcs11_tool(
            hsm.command("pkcs11-tool"),
            &["--module", crate::tokens::SOFTHSM],
            args,
        )
    };
    p11(&[
        "--login",
        "--pin",
        "1234",
        "--token-label",
        "upd-keys",
        "--keypairgen",
    ]
    .into_iter()
    .chain([
        "--key-type",
        "EC:prime256v1",
        "--label",
        "agent",
        "--id",
        "10",
    ])
    .collect::<Vec<_>>());
    let uri = format!(
        "pkcs11:token=upd-keys;object=agent?module-path={}&pin-value=1234",
        crate::tokens::SOFTHSM
    );
    token_key_authenticates(
        &uri,
        vec![("SOFTHSM2_CONF".into(), hsm.conf().into())],
        &|| p11(&["--read-object", "--type", "pubkey", "--label", "agent"]),
    );
}

#[test]
fn a_device_key_in_a_tpm_signs_the_auth_requests_on_the_tpm() {
    let tpm = crate::tokens::Tpm::new(false);
    let p11 = |args: &[&str]| {
        pkcs11_tool(
            tpm.p11_command("pkcs11-tool"),
            &[
                "--module",
                crate::tokens::TPM2_PKCS11,
                "--token-label",
                "upd-tpm",
            ],
            args,
        )
    };
    p11(&[
        "--login",
        "--pin",
        "1234",
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
    ]
    .into_iter()
    .chain(["--label", "agent", "--id", "30"])
    .collect::<Vec<_>>());
    if cfg!(target_pointer_width = "32") {
        // The key was written by the 64-bit tools; the 32-bit library under test reads it.
        tpm.narrow_store_for_32_bit();
    }
    let uri = format!(
        "pkcs11:token=upd-tpm;object=agent?module-path={}&pin-value=1234",
        crate::tokens::TPM2_PKCS11
    );
    token_key_authenticates(&uri, tpm.env(), &|| {
        p11(&["--read-object", "--type", "pubkey", "--label", "agent"])
    });
}

#[test]
fn a_server_that_requires_a_client_certificate_gets_the_httpsclient_one() {
    let web = crate::fixtures::Scratch::new();
    let pki = web.root().join("client-pki");
    std::fs::create_dir_all(&pki).unwrap();
    let sh = |script: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(&pki)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    sh(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
        -subj '/CN=device CA' -days 2 2>/dev/null",
    );
    std::fs::write(pki.join("ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    sh(
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key -out client.csr \
        -subj '/CN=device-1' 2>/dev/null && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key \
        -CAcreateserial -out client.pem -days 2 -extfile ext 2>/dev/null",
    );
    let server = Server::start_with(
        web.root(),
        &["--auto-accept"],
        &format!(
            "ssl_client_certificate {}/ca.pem; ssl_verify_client on;",
            pki.display()
        ),
    );
    // Without HttpsClient: nginx refuses the requests, and nothing reaches the server.
    let bare = device(&server, "");
    quick_device_key(&bare);
    let refused = Daemon::start(bare.root(), "", env_of(&bare));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !refused
        .log_text()
        .contains("authentication: the server answered 400")
    {
        assert!(Instant::now() < deadline, "{}", refused.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(server.state()["auth_requests"], 0);
    drop(refused);
    // With it: the device authenticates and reports.
    let s = device(
        &server,
        &format!(
            r#""HttpsClient":{{"Certificate":"{p}/client.pem","Key":"{p}/client.key"}}"#,
            p = pki.display()
        ),
    );
    quick_device_key(&s);
    let daemon = Daemon::start(s.root(), "", env_of(&s));
    server.wait_for(
        "the inventory over mutual TLS",
        &|| daemon.log_text(),
        |st| !st["inventory"].as_object().unwrap().is_empty(),
    );
}

#[test]
fn check_config_checks_the_agent_settings_too() {
    let web = crate::fixtures::Scratch::new();
    let server = Server::start(web.root(), &["--auto-accept"]);
    let run = |s: &crate::fixtures::Scratch| {
        std::process::Command::new(env!("CARGO_BIN_EXE_artifact-gate"))
            .args(["check-config", "--config-file"])
            .arg(s.write("etc/artifact-gate.toml", b""))
            .envs(env_of(s))
            .output()
            .unwrap()
    };
    let s = device(&server, "");
    let out = run(&s);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("Mender server: {}/", server.url()))
            && text.contains("mender-agent.pem (made at the daemon's first start)"),
        "{text}"
    );
    let half = device(
        &server,
        r#""HttpsClient":{"Certificate":"/etc/mender/client.crt"}"#,
    );
    let out = run(&half);
    assert_eq!(out.status.code(), Some(2));
    let words = String::from_utf8_lossy(&out.stderr);
    assert!(
        words.contains("HttpsClient: Certificate is set but Key is not"),
        "{words}"
    );
}
