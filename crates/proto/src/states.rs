//! Where a rollout and each of its targets stand: stored by the console, shown by the
//! dashboard, written as today's snake_case words in JSON and in the database.

words! {
    /// A rollout's state machine: scheduled → running → succeeded | failed, with paused
    /// and cancelled on an operator's word.
    RolloutState {
        Scheduled = "scheduled",
        Running = "running",
        Paused = "paused",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

words! {
    /// One endpoint of a rollout: pending → sent → preflighted → applied → verified, or
    /// failed / rolled back on the host, skipped (agent absent) or cancelled.
    TargetState {
        Pending = "pending",
        Sent = "sent",
        Preflighted = "preflighted",
        Applied = "applied",
        Verified = "verified",
        Failed = "failed",
        RolledBack = "rolled_back",
        Skipped = "skipped",
        Cancelled = "cancelled",
    }
}

words! {
    /// What a rollout target does: the renewal deployed to a server's endpoint, or, first,
    /// a client machine made to trust it (and later an entry certfleet added taken out).
    TargetAction {
        Deploy = "deploy",
        /// A client host installs the renewal's self-signed certificate or its issuing CA
        /// for the server endpoint, and proves the new chain trusted, before the switch.
        Trust = "trust",
        /// A client host takes out a trust entry certfleet added, once nothing needs it.
        Untrust = "untrust",
    }
}

impl RolloutState {
    /// Nothing more happens to it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RolloutState::Succeeded | RolloutState::Failed | RolloutState::Cancelled
        )
    }
}

impl TargetState {
    /// A job is out with the agent.
    pub const IN_FLIGHT: &'static [TargetState] = &[
        TargetState::Sent,
        TargetState::Preflighted,
        TargetState::Applied,
    ];

    /// Nothing more happens to it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TargetState::Verified
                | TargetState::Failed
                | TargetState::RolledBack
                | TargetState::Skipped
                | TargetState::Cancelled
        )
    }

    /// Failed on the host, whether or not the old certificate was put back.
    pub fn is_failure(self) -> bool {
        matches!(self, TargetState::Failed | TargetState::RolledBack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_keep_the_words_already_stored_and_sent() {
        let words: Vec<String> = TargetState::ALL
            .iter()
            .map(|s| serde_json::to_string(s).expect("json"))
            .collect();
        assert_eq!(
            words.join(","),
            r#""pending","sent","preflighted","applied","verified","failed","rolled_back","skipped","cancelled""#
        );
        for s in RolloutState::ALL {
            assert_eq!(RolloutState::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_string(s).expect("json"), format!("\"{s}\""));
        }
        assert_eq!(TargetState::RolledBack.label(), "rolled back");
        assert_eq!(RolloutState::parse("done"), None);
    }
}

words! {
    /// Where a renewal's certificate came from.
    RenewalSource {
        /// Uploaded by a person, with its key.
        Upload = "upload",
        /// Issued by the console's own issuing CA for a key the host made.
        InternalCa = "internal_ca",
        /// Obtained over ACME for a key the host made.
        Acme = "acme",
    }
}

words! {
    /// A renewal the console obtains itself, for one endpoint: requested (the host makes the
    /// key, the console waits for its request) → issued → rolling out → verified, or failed
    /// at any step with the old certificate still serving.
    IssuanceState {
        Requested = "requested",
        Issued = "issued",
        RollingOut = "rolling_out",
        Verified = "verified",
        Failed = "failed",
    }
}

impl IssuanceState {
    /// Still on its way: another renewal of the same endpoint waits for it.
    pub const ACTIVE: &'static [IssuanceState] = &[
        IssuanceState::Requested,
        IssuanceState::Issued,
        IssuanceState::RollingOut,
    ];
}
