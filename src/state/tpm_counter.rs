//! A TPM 2.0 NV counter as a floor that cannot go down (issue #16 item 3), driven through
//! tpm2-tools, as an operator would provision it by hand.
//!
//! A counter index (`TPM_NT_COUNTER`) can only be incremented, one step at a time. Its first
//! increment sets it to one more than the highest value any counter on this TPM ever held,
//! even one since deleted (TPM 2.0 Part 1, "NV Counters"). The floor is therefore the counter's
//! value minus one, read only after the counter was initialised: on a fresh TPM the floor
//! starts at 0, and deleting and redefining the index (or restoring the data partition) can
//! only leave it higher than before, never lower.

use std::process::Command;

/// `TPMA_NV_TPM_NT` (bits 4–7) holds 1 for a counter; `TPMA_NV_WRITTEN` is bit 29.
const NT_MASK: u64 = 0xF0;
const NT_COUNTER: u64 = 0x10;
const WRITTEN: u64 = 1 << 29;

/// One NV counter index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmCounter {
    /// The NV index (`0x01000000`–`0x01FFFFFF`).
    pub index: u32,
    /// The TCTI for tpm2-tools (`[policy] floor_tcti`); their default without one.
    pub tcti: Option<String>,
}

impl TpmCounter {
    /// `0x1500016`, as tpm2-tools print it.
    pub fn handle(&self) -> String {
        format!("{:#x}", self.index)
    }

    /// The floor the counter holds, defining and initialising the index first when needed.
    pub fn floor(&self) -> Result<u64, String> {
        self.ensure_counter()?;
        let raw = self.run(
            "tpm2_nvread",
            &[&self.handle(), "-C", &self.handle(), "-s", "8"],
        )?;
        let bytes: [u8; 8] = raw.as_slice().try_into().map_err(|_| {
            format!(
                "tpm2_nvread returned {} bytes, not the counter's 8",
                raw.len()
            )
        })?;
        // Initialised, so at least 1.
        Ok(u64::from_be_bytes(bytes).saturating_sub(1))
    }

    /// Raises the floor to `floor` (no-op when it is already there or higher), one increment
    /// at a time, then reads it back.
    pub fn raise_to(&self, floor: u64) -> Result<u64, String> {
        let mut current = self.floor()?;
        while current < floor {
            self.increment()?;
            current += 1;
        }
        let now = self.floor()?;
        if now < floor {
            return Err(format!(
                "the counter reads {now} after raising it to {floor}"
            ));
        }
        Ok(now)
    }

    /// The index exists, is a counter and has been incremented at least once.
    fn ensure_counter(&self) -> Result<(), String> {
        let listed = self.run("tpm2_getcap", &["handles-nv-index"])?;
        let handle = self.handle();
        let defined = String::from_utf8_lossy(&listed).lines().any(|l| {
            l.trim()
                .trim_start_matches("- ")
                .eq_ignore_ascii_case(&handle)
        });
        if !defined {
            self.run(
                "tpm2_nvdefine",
                &[
                    &handle,
                    "-C",
                    "o",
                    "-s",
                    "8",
                    "-a",
                    "nt=counter|ownerread|ownerwrite|authread|authwrite",
                ],
            )
            .map_err(|e| {
                format!(
                    "{e}; if the owner hierarchy has a password, define the index once by hand: \
                     tpm2_nvdefine {handle} -C o -P <owner password> -s 8 -a \
                     \"nt=counter|ownerread|ownerwrite|authread|authwrite\""
                )
            })?;
            tracing::info!(index = %handle, "defined the TPM NV counter for the security floor");
        }
        let attributes = self.attributes()?;
        if attributes & NT_MASK != NT_COUNTER {
            return Err(format!(
                "NV index {handle} is not a counter (attributes {attributes:#x}); a floor kept in \
                 an ordinary index could be rewritten lower"
            ));
        }
        if attributes & WRITTEN == 0 {
            self.increment()?;
        }
        Ok(())
    }

    fn increment(&self) -> Result<(), String> {
        self.run("tpm2_nvincrement", &[&self.handle(), "-C", &self.handle()])
            .map(|_| ())
    }

    /// The `attributes: value:` of `tpm2_nvreadpublic`.
    fn attributes(&self) -> Result<u64, String> {
        let out = self.run("tpm2_nvreadpublic", &[&self.handle()])?;
        let text = String::from_utf8_lossy(&out);
        let mut in_attributes = false;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with("attributes:") {
                in_attributes = true;
            } else if in_attributes && let Some(value) = line.strip_prefix("value:") {
                let value = value.trim().trim_start_matches("0x");
                return u64::from_str_radix(value, 16)
                    .map_err(|_| format!("tpm2_nvreadpublic printed attributes '{value}'"));
            }
        }
        Err("tpm2_nvreadpublic printed no attributes".to_owned())
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<Vec<u8>, String> {
        let mut command = Command::new(tool);
        if let Some(tcti) = &self.tcti {
            command.arg(format!("--tcti={tcti}"));
        }
        let out = command
            .args(args)
            .output()
            .map_err(|e| format!("cannot run {tool} (is tpm2-tools installed?): {e}"))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            // tpm2-tools' own first "ERROR: " line names the TPM's answer; the esys lines
            // before it are the library's trace.
            let last = stderr
                .lines()
                .find(|l| l.starts_with("ERROR: "))
                .or_else(|| stderr.lines().last())
                .unwrap_or("no message");
            return Err(format!(
                "{tool} {} failed ({}): {}",
                args.join(" "),
                out.status,
                crate::error::escape::quoted(last.trim())
            ));
        }
        Ok(out.stdout)
    }
}
