//! Who is on the other end of the socket (`SO_PEERCRED`) and whether they may change the
//! system. Reading the status is open to anyone who can connect; installing, committing and
//! rolling back need root or membership of the configured group (issue #4).

/// The credentials the kernel reports for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// User ID.
    pub uid: u32,
    /// Primary group ID.
    pub gid: u32,
    /// Process ID, when the kernel gave one.
    pub pid: Option<i32>,
}

impl Peer {
    /// Whether this peer may install, commit or roll back. `group` is the configured group's
    /// ID; membership counts through the primary group or the supplementary groups the kernel
    /// lists for the peer's process.
    pub fn may_change(&self, group: Option<u32>) -> bool {
        if self.uid == 0 {
            return true;
        }
        let Some(group) = group else {
            return false;
        };
        self.gid == group
            || self
                .pid
                .is_some_and(|pid| supplementary_groups(pid).contains(&group))
    }
}

/// The `Groups:` line of `/proc/<pid>/status`; empty when it cannot be read.
fn supplementary_groups(pid: i32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| groups_line(&status))
        .unwrap_or_default()
}

fn groups_line(status: &str) -> Option<Vec<u32>> {
    let line = status.lines().find_map(|l| l.strip_prefix("Groups:"))?;
    Some(
        line.split_whitespace()
            .filter_map(|g| g.parse().ok())
            .collect(),
    )
}

/// The ID of group `name`.
pub fn group_id(name: &str) -> Result<u32, String> {
    match nix::unistd::Group::from_name(name) {
        Ok(Some(group)) => Ok(group.gid.as_raw()),
        Ok(None) => Err(format!("group '{name}' does not exist")),
        Err(e) => Err(format!("group '{name}': {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_always_may_others_only_through_the_group() {
        let root = Peer {
            uid: 0,
            gid: 0,
            pid: None,
        };
        assert!(root.may_change(None));
        let user = Peer {
            uid: 1000,
            gid: 1000,
            pid: None,
        };
        assert!(!user.may_change(None));
        assert!(!user.may_change(Some(50)));
        assert!(user.may_change(Some(1000)));
    }

    #[test]
    fn supplementary_groups_come_from_proc_status() {
        let status = "Name:\tx\nGroups:\t4 24 27 \nVmRSS:\t1 kB\n";
        assert_eq!(groups_line(status), Some(vec![4, 24, 27]));
        assert_eq!(groups_line("Name:\tx\n"), None);
        // This very process: its own groups are listed.
        let me = Peer {
            uid: 1000,
            gid: 1000,
            pid: Some(std::process::id() as i32),
        };
        let mine = supplementary_groups(std::process::id() as i32);
        if let Some(g) = mine.iter().copied().find(|g| *g != 1000) {
            assert!(me.may_change(Some(g)));
        }
    }
}
