//! How many threads the payload path uses: one per stage where there are cores to run them,
//! all on the calling thread where there is one.
//!
//! On two cores, inflating on one thread and hashing on another overlaps the two and roughly
//! halves the wall time. On one core (a BeagleBone Black, or a service pinned with
//! `CPUAffinity=`) overlap buys nothing: every hand-off between threads is a copy, a wake-up
//! and a context switch that the single core pays for on top of the work itself (issue #17).

/// Where the payload's stages run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// Inflate and hash on the calling thread, straight into and out of the reader's buffer.
    Inline,
    /// Inflate on one worker thread and hash on another, beside the calling thread.
    Pipelined,
}

impl Threads {
    /// The choice for the CPUs this process may run on: its affinity mask and any cgroup CPU
    /// quota, as [`std::thread::available_parallelism`] reads them. When that cannot be read,
    /// the pipelined path: it is correct everywhere, only slower on one core.
    pub fn for_this_process() -> Self {
        Self::for_cpus(std::thread::available_parallelism().map_or(2, usize::from))
    }

    /// The choice for `cpus` usable CPUs.
    pub fn for_cpus(cpus: usize) -> Self {
        if cpus <= 1 {
            Self::Inline
        } else {
            Self::Pipelined
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cpu_runs_every_stage_inline_and_more_pipeline_them() {
        assert_eq!(Threads::for_cpus(0), Threads::Inline);
        assert_eq!(Threads::for_cpus(1), Threads::Inline);
        assert_eq!(Threads::for_cpus(2), Threads::Pipelined);
        assert_eq!(Threads::for_cpus(64), Threads::Pipelined);
    }
}
