//! Throughput of the primitives on artifact-gate's data path, from memory, so the figures
//! compare implementations and not the disk: SHA-256 (`sha2`, which ships, against `ring`'s
//! assembly) and gzip inflate (whichever flate2 backend this build has). Best of a few
//! interleaved rounds. Not a test: scripts/bench-arm.sh prints what it reports.
//!
//!   primitives-bench sha256 FILE     one line per implementation: `<name> <MiB/s>`
//!   primitives-bench inflate FILE    `<backend> <MiB/s of output> <output bytes>`

use std::io::Read;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const ROUNDS: usize = 3;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, path) = match args.as_slice() {
        [mode, path] => (mode.as_str(), path.as_str()),
        _ => return usage(),
    };
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(e) => {
            eprintln!("primitives-bench: cannot read {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match mode {
        "sha256" => sha256(&data),
        "inflate" => inflate(&data),
        _ => return usage(),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("primitives-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: primitives-bench sha256|inflate FILE");
    ExitCode::from(2)
}

fn mib_s(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / 1_048_576.0 / took.as_secs_f64().max(1e-9)
}

/// Hashes `data` with both implementations, in the 64 KiB pieces the stream hands over, and
/// requires them to agree before reporting either.
fn sha256(data: &[u8]) -> Result<(), String> {
    use sha2::Digest;
    const PIECE: usize = 64 * 1024;
    let mut best = [Duration::MAX; 2];
    let mut digests = [[0u8; 32]; 2];
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut h = sha2::Sha256::new();
        data.chunks(PIECE).for_each(|piece| h.update(piece));
        digests[0] = h.finalize().into();
        best[0] = best[0].min(start.elapsed());

        let start = Instant::now();
        let mut h = ring::digest::Context::new(&ring::digest::SHA256);
        data.chunks(PIECE).for_each(|piece| h.update(piece));
        digests[1].copy_from_slice(h.finish().as_ref());
        best[1] = best[1].min(start.elapsed());
    }
    if digests[0] != digests[1] {
        return Err("sha2 and ring disagree on the digest".into());
    }
    println!("sha2 {:.1}", mib_s(data.len(), best[0]));
    println!("ring {:.1}", mib_s(data.len(), best[1]));
    Ok(())
}

#[cfg(feature = "zlib-ng")]
const BACKEND: &str = "zlib-ng";
#[cfg(not(feature = "zlib-ng"))]
const BACKEND: &str = "zlib-rs";

/// Inflates the gzip stream `data` into a reused 256 KiB buffer, as the payload reader does;
/// the gzip trailer's CRC-32 and length are checked by the decoder.
fn inflate(data: &[u8]) -> Result<(), String> {
    let mut best = Duration::MAX;
    let mut out = vec![0u8; 256 * 1024];
    let mut total = 0usize;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut decoder = flate2::bufread::MultiGzDecoder::new(data);
        total = 0;
        loop {
            let n = decoder
                .read(&mut out)
                .map_err(|e| format!("inflate failed after {total} bytes: {e}"))?;
            if n == 0 {
                break;
            }
            total += n;
        }
        best = best.min(start.elapsed());
    }
    println!("{BACKEND} {:.1} {total}", mib_s(total, best));
    Ok(())
}
