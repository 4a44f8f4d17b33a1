//! Progress of a long read: a bar with bytes, rate and ETA on a terminal, plain log lines (every
//! tenth of the way, or every 256 MiB when the size is unknown) otherwise.

use std::io::{self, IsTerminal, Read};

/// Shows how far an operation got; fed byte counts by a reader ([`Progress`]) or by the
/// daemon's progress events.
pub struct Meter {
    total: Option<u64>,
    done: u64,
    next_report: u64,
    bar: Option<indicatif::ProgressBar>,
    label: String,
}

impl Meter {
    /// Reports on stderr as `label`; `total` is the size, when known.
    pub fn new(total: Option<u64>, label: &str) -> Self {
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
            total,
            done: 0,
            next_report: 0,
            bar,
            label: label.to_owned(),
        }
    }

    /// The size became known (the daemon reports it with the first event).
    pub fn set_total(&mut self, total: u64) {
        if self.total.is_none() {
            self.total = Some(total);
            if let Some(bar) = &self.bar {
                bar.set_length(total);
            }
        }
    }

    /// A new label (a phase name).
    pub fn set_label(&mut self, label: &str) {
        label.clone_into(&mut self.label);
        if let Some(bar) = &self.bar {
            bar.set_message(label.to_owned());
        } else {
            eprintln!("{label}");
        }
    }

    /// `done` bytes so far.
    pub fn set(&mut self, done: u64) {
        self.done = done;
        self.report();
    }

    /// The end: the bar is finished, or a last line printed when the total was reached.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        } else if self.total.is_some_and(|t| self.done >= t) && self.next_report <= self.done {
            self.report();
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

/// Wraps a reader and reports how much of it was read.
pub struct Progress<R> {
    inner: R,
    meter: Meter,
}

impl<R: Read> Progress<R> {
    /// Reports on stderr as `label` while `inner` is read; `total` is the size, when known.
    pub fn new(inner: R, total: Option<u64>, label: &str) -> Self {
        Self {
            inner,
            meter: Meter::new(total, label),
        }
    }
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.meter.finish();
            return Ok(0);
        }
        let done = self.meter.done.saturating_add(n as u64);
        self.meter.set(done);
        Ok(n)
    }
}

const UNKNOWN_SIZE_STEP: u64 = 256 * 1024 * 1024;
