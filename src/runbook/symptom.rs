//! The symptoms of the runbook's troubleshooting guide that `diagnose` runs, each a read-only
//! unit named in `runbook.yaml`'s `diagnose:` list.

use std::fmt;

/// One issue of the troubleshooting guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Symptom {
    /// The control plane is not responding (health, ECS tasks, its log).
    ControlPlane,
    /// A dispatch stays `pending` (the warm pool, the cluster's capacity, replenishment).
    DispatchPending,
    /// One agent fails while the others work (its health, image and secret).
    Agent,
    /// 401/403 from the API (the key's prefix, validity and scopes).
    Auth,
    /// A dispatch's artifacts are missing (its status, its objects in S3).
    Artifacts,
}

impl Symptom {
    /// Every symptom, in the guide's order: the order `diagnose` without one runs them.
    pub const ALL: [Symptom; 5] = [
        Symptom::ControlPlane,
        Symptom::DispatchPending,
        Symptom::Agent,
        Symptom::Auth,
        Symptom::Artifacts,
    ];

    /// The name the command line and `runbook.yaml` use.
    pub fn name(self) -> &'static str {
        match self {
            Symptom::ControlPlane => "control-plane",
            Symptom::DispatchPending => "dispatch-pending",
            Symptom::Agent => "agent",
            Symptom::Auth => "auth",
            Symptom::Artifacts => "artifacts",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The names, for messages and the command line's choices.
    pub fn names() -> [&'static str; 5] {
        Self::ALL.map(Symptom::name)
    }

    /// The var a symptom's argument sets (`diagnose agent codex` sets `diagnose_agent`) and
    /// how the command line names the argument; `None` for a symptom that takes none.
    pub fn argument(self) -> Option<(&'static str, &'static str)> {
        match self {
            Symptom::Agent => Some(("diagnose_agent", "NAME")),
            Symptom::Artifacts => Some(("diagnose_dispatch_id", "DISPATCH_ID")),
            _ => None,
        }
    }
}

impl fmt::Display for Symptom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_only_agent_and_artifacts_take_an_argument() {
        for s in Symptom::ALL {
            assert_eq!(Symptom::from_name(s.name()), Some(s));
        }
        assert_eq!(Symptom::from_name("agents"), None);
        let with: Vec<&str> = Symptom::ALL
            .into_iter()
            .filter(|s| s.argument().is_some())
            .map(Symptom::name)
            .collect();
        assert_eq!(with, ["agent", "artifacts"]);
    }
}
