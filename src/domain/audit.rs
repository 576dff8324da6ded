//! The append-only audit trail of a message, chained by hash so tampering shows.
//!
//! A message has one chain for what concerns it as a whole (submission, versions, withdrawal) and
//! one chain per school for that school's review: decisions of different schools are
//! independent, so they never wait on each other, while each school's history stays one
//! unbroken chain.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The chain of message-wide events (records about no school in particular).
pub const MESSAGE_CHAIN: &str = "message";

/// The chain an entry belongs to: its school's, or the message's.
pub fn chain_of(entry: &AuditEntry) -> &str {
    entry.uai.as_deref().unwrap_or(MESSAGE_CHAIN)
}

/// The hash that precedes the first record of every chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an audit record says happened. Stored and hashed by its snake_case name, so records
/// written when actions were plain strings read and verify unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// The authority submitted the message.
    Submitted,
    /// An emergency message was published at once.
    EmergencyPublished,
    /// Academic services co-validated an evaluation message.
    Coproduced,
    /// A school's review opened.
    ReviewOpened,
    /// The authority submitted a new version.
    VersionSubmitted,
    /// A review was replaced by the review of a newer version.
    Superseded,
    /// The head approved.
    Approved,
    /// The deadline passed in silence: tacit approval.
    TacitlyApproved,
    /// The head asked for a rectification.
    RectificationRequested,
    /// The authority took the dispute to the arbitrator.
    Escalated,
    /// The arbitrator authorised publication.
    Authorised,
    /// The arbitrator upheld the head's refusal.
    Upheld,
    /// The authority withdrew the message.
    Withdrawn,
    /// A dispute ended without the arbitrator's decision (new version, withdrawal).
    DisputeClosed,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [AuditAction; 14] = [
        AuditAction::Submitted,
        AuditAction::EmergencyPublished,
        AuditAction::Coproduced,
        AuditAction::ReviewOpened,
        AuditAction::VersionSubmitted,
        AuditAction::Superseded,
        AuditAction::Approved,
        AuditAction::TacitlyApproved,
        AuditAction::RectificationRequested,
        AuditAction::Escalated,
        AuditAction::Authorised,
        AuditAction::Upheld,
        AuditAction::Withdrawn,
        AuditAction::DisputeClosed,
    ];

    /// The action in French, as people read it in a history.
    pub const fn label(self) -> &'static str {
        match self {
            AuditAction::Submitted => "Communication soumise",
            AuditAction::EmergencyPublished => "Publiée en urgence",
            AuditAction::Coproduced => "Co-validée par les services académiques",
            AuditAction::ReviewOpened => "Examen ouvert",
            AuditAction::VersionSubmitted => "Nouvelle version soumise",
            AuditAction::Superseded => "Remplacée par une nouvelle version",
            AuditAction::Approved => "Approuvée",
            AuditAction::TacitlyApproved => "Accord tacite acquis",
            AuditAction::RectificationRequested => "Rectification demandée",
            AuditAction::Escalated => "Arbitrage demandé",
            AuditAction::Authorised => "Publication autorisée par l’arbitre",
            AuditAction::Upheld => "Refus confirmé par l’arbitre",
            AuditAction::Withdrawn => "Retirée par la collectivité",
            AuditAction::DisputeClosed => "Arbitrage clos sans décision",
        }
    }
}

/// What an audit record says happened, before it is chained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who (token subject, or `charte` for the service itself).
    pub actor: String,
    /// Their display name.
    pub actor_name: String,
    /// Their role (`system` for the service).
    pub role: String,
    /// What happened.
    pub action: AuditAction,
    /// The school concerned, if one.
    pub uai: Option<String>,
    /// The review concerned, if one.
    pub review_id: Option<String>,
    /// The version concerned.
    pub version: Option<u32>,
    /// That version's content hash.
    pub version_hash: Option<String>,
    /// The motive or statement given.
    pub motive: Option<String>,
}

/// One chained record of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// The message the trail belongs to.
    pub message_id: String,
    /// The chain: `message`, or the UAI of the school whose review it concerns.
    pub chain: String,
    /// Position in its chain, from 1.
    pub seq: u64,
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// Hash of the previous record (GENESIS for the first).
    pub prev_hash: String,
    /// SHA-256 over this record's content and `prev_hash`.
    pub hash: String,
}

/// The last link of a chain, which the next record extends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// Sequence number of the last record (0 for an empty chain).
    pub seq: u64,
    /// Hash of the last record.
    pub hash: String,
}

impl Default for ChainHead {
    fn default() -> Self {
        Self {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

fn record_hash(
    message_id: &str,
    chain: &str,
    seq: u64,
    entry: &AuditEntry,
    prev_hash: &str,
) -> String {
    // serde_json writes struct fields in declaration order, which makes this encoding canonical.
    let body = serde_json::to_vec(&(message_id, chain, seq, entry, prev_hash)).unwrap_or_default();
    hex::encode(Sha256::digest(&body))
}

impl ChainHead {
    /// Appends entries to `chain` after this head, returning the chained records and the new head.
    pub fn extend(
        &self,
        message_id: &str,
        chain: &str,
        entries: Vec<AuditEntry>,
    ) -> (Vec<AuditRecord>, ChainHead) {
        let mut head = self.clone();
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let seq = head.seq + 1;
            let hash = record_hash(message_id, chain, seq, &entry, &head.hash);
            out.push(AuditRecord {
                message_id: message_id.to_owned(),
                chain: chain.to_owned(),
                seq,
                entry,
                prev_hash: head.hash.clone(),
                hash: hash.clone(),
            });
            head = ChainHead { seq, hash };
        }
        (out, head)
    }
}

/// The result of checking a message's chains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Verification {
    /// Whether every record is intact and linked to the previous one of its chain.
    pub valid: bool,
    /// How many records were checked.
    pub records: usize,
    /// How many chains (the message's, and one per school).
    pub chains: usize,
    /// The chain of the first record found altered or out of place.
    pub first_invalid_chain: Option<String>,
    /// That record's position in its chain.
    pub first_invalid_seq: Option<u64>,
    /// The verdict in French.
    pub detail: String,
}

/// Checks that every record's hash matches its content and links to the previous one of its chain.
pub fn verify(records: &[AuditRecord]) -> Verification {
    let mut chains: std::collections::BTreeMap<&str, Vec<&AuditRecord>> =
        std::collections::BTreeMap::new();
    for r in records {
        chains.entry(r.chain.as_str()).or_default().push(r);
    }
    for (chain, mut list) in chains.clone() {
        list.sort_by_key(|r| r.seq);
        let mut head = ChainHead::default();
        for r in list {
            let expected_seq = head.seq + 1;
            let broken = if r.seq != expected_seq {
                Some(format!(
                    "l'enregistrement n° {expected_seq} manque ou est déplacé"
                ))
            } else if r.prev_hash != head.hash {
                Some(format!(
                    "l'enregistrement n° {} ne suit pas le précédent",
                    r.seq
                ))
            } else if record_hash(&r.message_id, &r.chain, r.seq, &r.entry, &r.prev_hash) != r.hash
            {
                Some(format!("l'enregistrement n° {} a été modifié", r.seq))
            } else {
                None
            };
            if let Some(why) = broken {
                let whose = if chain == MESSAGE_CHAIN {
                    "de la communication".to_owned()
                } else {
                    format!("de l'établissement {chain}")
                };
                return Verification {
                    valid: false,
                    records: records.len(),
                    chains: chains.len(),
                    first_invalid_chain: Some(chain.to_owned()),
                    first_invalid_seq: Some(expected_seq),
                    detail: format!("Journal altéré : dans la chaîne {whose}, {why}."),
                };
            }
            head = ChainHead {
                seq: r.seq,
                hash: r.hash.clone(),
            };
        }
    }
    Verification {
        valid: true,
        records: records.len(),
        chains: chains.len(),
        first_invalid_chain: None,
        first_invalid_seq: None,
        detail: format!(
            "Journal intègre : {} enregistrement(s) vérifiés dans {} chaîne(s).",
            records.len(),
            chains.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn every_action_has_its_own_french_label() {
        let labels: std::collections::BTreeSet<&str> =
            AuditAction::ALL.iter().map(|a| a.label()).collect();
        assert_eq!(labels.len(), AuditAction::ALL.len());
        assert!(labels.iter().all(|l| !l.is_empty()));
    }

    #[test]
    fn an_action_is_stored_and_hashed_by_its_old_string_name() {
        // Records chained before actions were an enum carry the same JSON, hence the same hashes.
        for action in AuditAction::ALL {
            let json = serde_json::to_string(&action).unwrap();
            let back: AuditAction = serde_json::from_str(&json).unwrap();
            assert_eq!(back, action);
        }
        assert_eq!(
            serde_json::to_string(&AuditAction::TacitlyApproved).unwrap(),
            "\"tacitly_approved\""
        );
        let (records, _) =
            ChainHead::default().extend("m", MESSAGE_CHAIN, vec![entry(AuditAction::Submitted)]);
        let mut as_string = serde_json::to_value(&records[0].entry).unwrap();
        as_string["action"] = "submitted".into();
        let reread: AuditEntry = serde_json::from_value(as_string).unwrap();
        assert_eq!(reread, records[0].entry);
        assert!(verify(&records).valid);
    }

    fn entry(action: AuditAction) -> AuditEntry {
        AuditEntry {
            at: datetime!(2026-11-23 10:00 UTC),
            actor: "agent-1".into(),
            actor_name: "Agent".into(),
            role: "authority_agent".into(),
            action,
            uai: Some("0301674G".into()),
            review_id: None,
            version: Some(1),
            version_hash: Some("ab".into()),
            motive: None,
        }
    }

    #[test]
    fn an_intact_chain_verifies_and_extends() {
        let (first, head) = ChainHead::default().extend(
            "m",
            "0301674G",
            vec![entry(AuditAction::Submitted), entry(AuditAction::Approved)],
        );
        let (more, _) = head.extend("m", "0301674G", vec![entry(AuditAction::Withdrawn)]);
        let all: Vec<_> = first.into_iter().chain(more).collect();
        assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(verify(&all).valid);
    }

    #[test]
    fn an_altered_motive_a_removed_record_or_a_forged_hash_is_detected() {
        let (records, _) = ChainHead::default().extend(
            "m",
            "0301674G",
            vec![
                entry(AuditAction::Submitted),
                entry(AuditAction::RectificationRequested),
                entry(AuditAction::Escalated),
            ],
        );

        let mut altered = records.clone();
        altered[1].entry.motive = Some("autre chose".into());
        assert_eq!(verify(&altered).first_invalid_seq, Some(2));

        let mut removed = records.clone();
        removed.remove(1);
        assert_eq!(verify(&removed).first_invalid_seq, Some(2));

        let mut forged = records.clone();
        forged[1].entry.action = AuditAction::Approved;
        forged[1].hash = record_hash("m", "0301674G", 2, &forged[1].entry, &forged[1].prev_hash);
        // Re-hashing one record breaks the link to the next one.
        assert_eq!(verify(&forged).first_invalid_seq, Some(3));
        assert!(!verify(&forged).valid);
    }

    #[test]
    fn chains_are_checked_independently_and_the_broken_one_is_named() {
        let (message, _) =
            ChainHead::default().extend("m", MESSAGE_CHAIN, vec![entry(AuditAction::Submitted)]);
        let (a, _) =
            ChainHead::default().extend("m", "0570054Z", vec![entry(AuditAction::Approved)]);
        let (mut b, _) = ChainHead::default().extend(
            "m",
            "0670080Y",
            vec![entry(AuditAction::RectificationRequested)],
        );
        let intact: Vec<_> = message.iter().chain(&a).chain(&b).cloned().collect();
        let v = verify(&intact);
        assert!(v.valid && v.chains == 3, "{v:?}");
        b[0].entry.motive = Some("changé".into());
        let tampered: Vec<_> = message.into_iter().chain(a).chain(b).collect();
        let v = verify(&tampered);
        assert_eq!(v.first_invalid_chain.as_deref(), Some("0670080Y"));
        assert!(
            v.detail.contains("l'établissement 0670080Y"),
            "{}",
            v.detail
        );
    }
}
