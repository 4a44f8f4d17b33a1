//! Library-level checks: what the payload consumer sees, and when.

use std::io::Read;

use artifact_gate::artifact::{
    self, CheckedHeader, PayloadFileInfo, PayloadSink, ReadError, ReadOptions, Rejection, SinkError,
};
use artifact_gate::signature::VerifiedManifest;

use crate::fixtures::{Art, Dialect, fx, tar, untar};

/// Records every call, so a test can prove nothing reached the installer side.
#[derive(Default)]
struct Recorder {
    began: bool,
    files: Vec<(String, u64)>,
}

impl PayloadSink for Recorder {
    fn begin(&mut self, _: &CheckedHeader, _: &VerifiedManifest) -> Result<(), SinkError> {
        self.began = true;
        Ok(())
    }

    fn file(&mut self, file: &PayloadFileInfo, data: &mut dyn Read) -> Result<(), SinkError> {
        let mut n = 0u64;
        let mut buf = [0u8; 4096];
        loop {
            let got = data.read(&mut buf)?;
            if got == 0 {
                break;
            }
            n += got as u64;
        }
        self.files.push((file.name.to_string(), n));
        Ok(())
    }
}

fn options() -> ReadOptions {
    crate::fixtures::signed_by("rsa.pub")
}

#[test]
fn genuine_artifact_reaches_the_sink_whole() {
    let mut sink = Recorder::default();
    let bytes = fx().bytes("mod-rsa.mender");
    let v = artifact::read_artifact(&bytes[..], &options(), &mut sink).unwrap();
    assert!(sink.began);
    assert_eq!(
        sink.files,
        [("z2.bin".to_owned(), 100_000), ("f1.txt".to_owned(), 27)]
    );
    assert_eq!(v.files().len(), 2);
    assert_eq!(
        v.bytes_read() as usize,
        bytes.len() - 512,
        "all but the last end block is read by the tar walk"
    );
}

#[test]
fn signature_and_header_failures_never_reach_the_sink() {
    let mut wrong_sig = Art::open("mod-none.mender");
    wrong_sig.set(
        "manifest.sig",
        Art::open("mod-other.mender").get("manifest.sig").to_vec(),
    );
    let mut bad_header = Art::open("mod-none.mender");
    let mut h = untar(bad_header.get("header.tar"));
    h[0].data.push(b' ');
    bad_header.set("header.tar", tar(&h, Dialect::Ustar));
    for (art, what) in [(wrong_sig, "signature"), (bad_header, "header")] {
        let mut sink = Recorder::default();
        let err = artifact::read_artifact(&art.bytes()[..], &options(), &mut sink).unwrap_err();
        assert!(matches!(err, ReadError::Rejected(_)), "{what}: {err}");
        assert!(!sink.began, "{what}: the sink was told to begin");
        assert!(
            sink.files.is_empty(),
            "{what}: payload bytes reached the sink"
        );
    }
}

#[test]
fn payload_mismatch_fails_the_read_after_streaming() {
    let mut art = Art::open("mod-none.mender");
    let mut files = untar(art.get("data/0000.tar"));
    files[1].data[10] ^= 0xff;
    art.set("data/0000.tar", tar(&files, Dialect::Ustar));
    let mut sink = Recorder::default();
    let err = artifact::read_artifact(&art.bytes()[..], &options(), &mut sink).unwrap_err();
    match err {
        ReadError::Rejected(Rejection::ChecksumMismatch {
            entry,
            expected,
            found,
        }) => {
            assert_eq!(entry, "data/0000/z2.bin");
            assert_ne!(expected, found);
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn short_reads_do_not_change_the_verdict() {
    /// Delivers at most a few bytes per read, like a slow pipe.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.1 = self.1 % 7 + 1;
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let bytes = fx().bytes("mod-rsa.mender");
    let v =
        artifact::read_artifact(Trickle(&bytes, 0), &options(), &mut Recorder::default()).unwrap();
    assert_eq!(v.header().artifact_name(), "mod-rsa");
}
