//! Opening a submitted message's reviews, school by school, in chunks: the submission commits
//! the message with its first chunk and, when more schools remain, a durable fan-out job; a
//! worker then commits each further chunk together with the job's new cursor. No single commit
//! holds the store for long, and a crash at any point neither loses a review nor opens one twice
//! (a chunk and the cursor that records it are written together or not at all).

use std::collections::{BTreeMap, HashMap};

use time::OffsetDateTime;

use super::{AppError, AppResult, Charte, review_entry};
use crate::domain::actor::Actor;
use crate::domain::audit::{AuditAction, AuditEntry, AuditRecord, ChainHead, chain_of};
use crate::domain::calendar::Deadline;
use crate::domain::directory::School;
use crate::domain::message::{Message, Review, Version};
use crate::domain::notification::OutboxEmail;
use crate::store::{Commit, FanOut};

/// Schools whose reviews one commit opens: at 50, Redis's slow log showed hundreds of chunk
/// commits over 10 ms during a stream of submissions (`submissions` bench); at 20, a handful, all
/// while the two cores were saturated — so a Région's message never holds the store for long.
pub const FAN_OUT_CHUNK: usize = 20;

/// Jobs a worker pass takes at once.
const JOBS_PER_PASS: usize = 16;

/// Refused attempts at one chunk while the job does not advance (a record that should not be
/// there) before giving up for now.
const MAX_REFUSALS: u32 = 16;

/// The reviews opened for some schools, with what goes with them.
pub(super) struct Opened {
    /// One review per school.
    pub reviews: Vec<Review>,
    /// The email to each school's head (when the school has an address).
    pub outbox: Vec<OutboxEmail>,
    /// One `review_opened` entry per school, in its school's chain.
    pub entries: Vec<AuditEntry>,
}

/// The audit records of chains that start with `entries` (each chain grouped, in the order of its
/// first entry): a new message's chains have no record yet.
pub(super) fn fresh_chains(message_id: &str, entries: Vec<AuditEntry>) -> Vec<AuditRecord> {
    let mut order: Vec<String> = Vec::new();
    let mut by_chain: HashMap<String, Vec<AuditEntry>> = HashMap::new();
    for e in entries {
        let chain = chain_of(&e).to_owned();
        if !by_chain.contains_key(&chain) {
            order.push(chain.clone());
        }
        by_chain.entry(chain).or_default().push(e);
    }
    order
        .into_iter()
        .flat_map(|chain| {
            let list = by_chain.remove(&chain).unwrap_or_default();
            ChainHead::default().extend(message_id, &chain, list).0
        })
        .collect()
}

impl Charte {
    /// Opens reviews of `version` for `schools`, as of the version's submission (the instant the
    /// deadlines run from, whenever the chunk is written); `deadlines` are the schools' deadlines
    /// when already computed, in the same order.
    pub(super) fn open_reviews(
        &self,
        message: &Message,
        version: &Version,
        actor: &Actor,
        schools: &[School],
        deadlines: Option<&[Deadline]>,
    ) -> AppResult<Opened> {
        let at = version.submitted_at;
        let computed;
        let deadlines = match (deadlines, message.kind.review_days()) {
            (Some(d), _) => d,
            (None, Some(days)) => {
                computed = self.deadlines_of(schools, days, at)?;
                &computed[..]
            }
            (None, None) => &[][..],
        };
        let authority_name = self.authority_name(&message.authority_id);
        let mut opened = Opened {
            reviews: Vec::with_capacity(schools.len()),
            outbox: Vec::with_capacity(schools.len()),
            entries: Vec::with_capacity(schools.len()),
        };
        for (i, school) in schools.iter().enumerate() {
            let (review, mail) = self.open_for_school(
                message,
                version,
                school,
                deadlines.get(i),
                at,
                &authority_name,
            )?;
            opened.outbox.extend(mail);
            opened.entries.push(review_entry(
                Some(actor),
                at,
                AuditAction::ReviewOpened,
                &review,
                None,
            ));
            opened.reviews.push(review);
        }
        Ok(opened)
    }

    /// The review deadline of each school for a period of `days` business days opened `at`,
    /// computed once per department and académie (what a deadline depends on).
    pub(super) fn deadlines_of(
        &self,
        schools: &[School],
        days: u32,
        at: OffsetDateTime,
    ) -> AppResult<Vec<Deadline>> {
        let mut memo: BTreeMap<(&str, &str), Deadline> = BTreeMap::new();
        let mut out = Vec::with_capacity(schools.len());
        for school in schools {
            let key = (school.department.as_str(), school.academie_name.as_str());
            let d = match memo.get(&key) {
                Some(d) => d.clone(),
                None => {
                    let d = self.school_deadline(school, days, at)?.1;
                    memo.insert(key, d.clone());
                    d
                }
            };
            out.push(d);
        }
        Ok(out)
    }

    /// Opens the reviews of the job's next chunk of targets, committed with the job's new cursor.
    /// Returns the job as now stored, or `None` when the commit was refused (another instance
    /// committed this chunk first).
    async fn open_next_chunk(&self, message: &Message, job: &FanOut) -> AppResult<Option<FanOut>> {
        let end = (job.opened + FAN_OUT_CHUNK).min(job.total);
        let uais = message.targets.get(job.opened..end).ok_or_else(|| {
            AppError::Internal(format!(
                "ouverture des revues de {} : cible {}..{end} hors de la liste",
                message.id, job.opened
            ))
        })?;
        let schools = self.schools_in_order(uais).await?;
        let version = message.current_version();
        let opened = self.open_reviews(message, version, &job.actor, &schools, None)?;
        let mut next = job.clone();
        next.opened = end;
        if end == job.total {
            next.finished_at = Some(self.now());
        }
        let commit = Commit {
            reviews: opened.reviews,
            audit: fresh_chains(&message.id, opened.entries),
            outbox: opened.outbox,
            fan_out: Some(next.clone()),
            ..Commit::default()
        };
        if !self.commit(commit, Some(message)).await? {
            return Ok(None);
        }
        next.revision += 1;
        Ok(Some(next))
    }

    /// Opens every review a message's fan-out job still owes, chunk by chunk, at once; returns
    /// how many schools got theirs meanwhile. Called before any transition that must see all of a
    /// message's reviews (a withdrawal, a new version).
    pub async fn finish_fan_out(&self, message_id: &str) -> AppResult<usize> {
        self.drive_fan_out(message_id, false, &|| false).await
    }

    /// [`Self::finish_fan_out`]; `paced`, it rests after each chunk as long as the chunk took,
    /// so that a fan-out in the background takes at most half a core from the requests; it
    /// stops between two chunks once `stopping` says so (the job resumes at the next start).
    async fn drive_fan_out(
        &self,
        message_id: &str,
        paced: bool,
        stopping: &(dyn Fn() -> bool + Sync),
    ) -> AppResult<usize> {
        let mut job = match self.store.fan_out(message_id).await? {
            Some(job) if job.finished_at.is_none() => job,
            _ => return Ok(0),
        };
        let message = self.store.message(message_id).await?.ok_or_else(|| {
            AppError::Internal(format!("communication {message_id} du travail introuvable"))
        })?;
        let (started, from) = (std::time::Instant::now(), job.opened);
        let mut refusals = 0;
        while job.finished_at.is_none() && !stopping() {
            let chunk_started = std::time::Instant::now();
            match self.open_next_chunk(&message, &job).await? {
                Some(next) => {
                    job = next;
                    refusals = 0;
                    if paced && job.finished_at.is_none() {
                        tokio::time::sleep(chunk_started.elapsed()).await;
                    }
                }
                None => {
                    let Some(stored) = self.store.fan_out(message_id).await? else {
                        return Ok(0);
                    };
                    if stored.opened > job.opened || stored.finished_at.is_some() {
                        // Another instance is working through this job: let it lead.
                        refusals = 0;
                        let pause = 1 + rand::random::<u64>() % 10;
                        tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                    } else {
                        refusals += 1;
                        if refusals > MAX_REFUSALS {
                            return Err(AppError::Conflict(format!(
                                "l'ouverture des revues de {message_id} est refusée à chaque essai"
                            )));
                        }
                    }
                    job = stored;
                }
            }
        }
        let here = job.opened.saturating_sub(from);
        tracing::info!(
            message = %message_id,
            revues = here,
            etablissements = job.total,
            termine = job.finished_at.is_some(),
            duree_ms = started.elapsed().as_millis() as u64,
            "revues ouvertes"
        );
        Ok(here)
    }

    /// Works through the oldest unfinished fan-out jobs (after a crash, those the previous run
    /// left), at the worker's pace, until `stopping` says so; returns how many reviews were opened.
    pub async fn open_pending_reviews(
        &self,
        stopping: &(dyn Fn() -> bool + Sync),
    ) -> AppResult<usize> {
        let mut opened = 0;
        for job in self.store.pending_fan_outs(JOBS_PER_PASS).await? {
            if stopping() {
                break;
            }
            opened += self.drive_fan_out(&job.message_id, true, stopping).await?;
        }
        Ok(opened)
    }
}
