//! Progress of a long read: a bar with bytes, rate and ETA on a terminal, plain log lines (every
//! tenth of the way, or every 256 MiB when the size is unknown) otherwise.

use std::io::{self, IsTerminal, Read};

/// Wraps a reader and reports how much of it was read.
pub struct Progress<R> {
    inner: R,
    total: Option<u64>,
    done: u64,
    next_report: u64,
    bar: Option<indicatif::ProgressBar>,
    label: String,
}

impl<R: Read> Progress<R> {
    /// Reports on stderr as `label` while `inner` is read; `total` is the size, when known.
    pub fn new(inner: R, total: Option<u64>, label: &str) -> Self {
        let bar = io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(total) => indicatif::ProgressBar::new(total),
                None => indicatif::ProgressBar::new_spinner(),
            };
            let style = indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .map(|s| s.progress_chars("=> "));
            if let Ok(style) = style {
                bar.set_style(style);
            }
            bar.set_message(label.to_owned());
            bar
        });
        Self {
            inner,
            total,
            done: 0,
            next_report: 0,
            bar,
            label: label.to_owned(),
        }
    }

    fn report(&mut self) {
        if let Some(bar) = &self.bar {
            bar.set_position(self.done);
            return;
        }
        if self.done < self.next_report {
            return;
        }
        match self.total {
            Some(total) if total > 0 => {
                let percent = self.done.saturating_mul(100) / total;
                eprintln!(
                    "{}: {percent}% ({} of {total} bytes)",
                    self.label, self.done
                );
                let step = (total / 10).max(1);
                self.next_report = (self.done / step + 1).saturating_mul(step);
            }
            _ => {
                eprintln!("{}: {} bytes", self.label, self.done);
                self.next_report = self.done.saturating_add(UNKNOWN_SIZE_STEP);
            }
        }
    }
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done = self.done.saturating_add(n as u64);
        if n == 0 {
            if let Some(bar) = self.bar.take() {
                bar.finish();
            } else if self.total.is_some_and(|t| self.done >= t) && self.next_report <= self.done {
                self.report();
            }
            return Ok(0);
        }
        self.report();
        Ok(n)
    }
}

const UNKNOWN_SIZE_STEP: u64 = 256 * 1024 * 1024;
