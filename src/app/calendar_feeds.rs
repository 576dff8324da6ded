//! Private calendar feeds of one's deadlines: created, listed and revoked by their owner, read
//! with the secret of their URL alone.

use super::*;
use crate::domain::calendar_feed::{self, CalendarFeed, Entry, MAX_ENTRIES, MAX_FEEDS_PER_OWNER};
use crate::domain::message::rfc3339;
use crate::store::InboxOf;

/// What a calendar feed shows, for the HTTP adapter to render.
#[derive(Debug, Clone)]
pub struct CalendarContent {
    /// The calendar's name, in French.
    pub name: String,
    /// Its entries, soonest first.
    pub entries: Vec<Entry>,
    /// Where each entry's owner answers (the widget).
    pub link: String,
    /// When it was read.
    pub stamp: OffsetDateTime,
}

impl Charte {
    /// Creates a private feed of the actor's deadlines; its URL, which carries its secret, is
    /// given this once.
    pub async fn create_calendar_feed(&self, actor: &Actor) -> AppResult<CalendarFeedCreated> {
        access::require(actor, Action::FollowDeadlines)?;
        let held = self.store.calendar_feeds_of(&actor.subject).await?;
        if held.len() >= MAX_FEEDS_PER_OWNER {
            return Err(AppError::Conflict(format!(
                "Vous avez déjà {MAX_FEEDS_PER_OWNER} calendriers : révoquez-en un (DELETE /v1/calendar-feeds/{{id}}) avant d'en créer un autre."
            )));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let secret = {
            use rand::RngCore;
            let mut bytes = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut bytes);
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        };
        let feed = CalendarFeed::new(id, &secret, actor.clone(), self.now());
        self.store.put_calendar_feed(&feed).await?;
        Ok(CalendarFeedCreated {
            url: format!(
                "{}/v1/calendar-feeds/{}/calendar.ics?token={secret}",
                self.public_url.trim_end_matches('/'),
                feed.id
            ),
            id: feed.id,
            created_at: rfc3339(feed.created_at),
        })
    }

    /// The actor's calendar feeds, oldest first (without their URLs: the secrets are not kept).
    pub async fn calendar_feeds(&self, actor: &Actor) -> AppResult<CalendarFeedList> {
        access::require(actor, Action::FollowDeadlines)?;
        let items = self
            .store
            .calendar_feeds_of(&actor.subject)
            .await?
            .into_iter()
            .map(|f| CalendarFeedView {
                id: f.id,
                created_at: rfc3339(f.created_at),
            })
            .collect();
        Ok(CalendarFeedList { items })
    }

    /// Revokes one of the actor's calendar feeds: its URL answers 404 from then on.
    pub async fn revoke_calendar_feed(&self, actor: &Actor, id: &str) -> AppResult<()> {
        access::require(actor, Action::FollowDeadlines)?;
        let mine = self
            .store
            .calendar_feed(id)
            .await?
            .is_some_and(|f| f.owner.subject == actor.subject);
        if !mine || !self.store.delete_calendar_feed(id).await? {
            return Err(not_found("Calendrier"));
        }
        Ok(())
    }

    /// What the feed `id` shows, if `secret` opens it: its owner's open deadlines (a head's
    /// reviews, an authority's pending schools) or waiting disputes (an arbitrator's).
    pub async fn calendar(&self, id: &str, secret: &str) -> AppResult<CalendarContent> {
        let feed = self
            .store
            .calendar_feed(id)
            .await?
            .filter(|f| f.opens_with(secret))
            .ok_or_else(|| not_found("Calendrier"))?;
        let owner = &feed.owner;
        let pending = Some(ReviewState::Pending);
        let keep = |r: &Review| access::sees_review(owner, r);
        let mut reviews: Vec<Review> = Vec::new();
        match access::reach(owner) {
            Reach::Schools(uais) => {
                for uai in uais {
                    let page = self
                        .inbox_matching(InboxOf::School(uai), pending, None, MAX_ENTRIES, keep)
                        .await?;
                    reviews.extend(page.into_iter().map(|(_, r)| r));
                }
            }
            Reach::Authority(authority) => {
                let page = self
                    .inbox_matching(
                        InboxOf::Authority(authority),
                        pending,
                        None,
                        MAX_ENTRIES,
                        keep,
                    )
                    .await?;
                reviews.extend(page.into_iter().map(|(_, r)| r));
            }
            Reach::Disputes(arbitrator) => {
                reviews.extend(self.store.open_disputes(arbitrator).await?);
            }
            // The roles without deadlines cannot create a feed; one made before a change of
            // rules shows nothing rather than someone else's deadlines.
            Reach::Everything | Reach::Academie(_) | Reach::Nothing => {}
        }
        let ids: Vec<String> = reviews
            .iter()
            .map(|r| r.message_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Read together, in one round trip.
        let messages: HashMap<String, Message> = self
            .store
            .messages_with_summaries(&ids)
            .await?
            .into_iter()
            .map(|(m, _)| (m.id.clone(), m))
            .collect();
        let uais: Vec<Uai> = reviews
            .iter()
            .map(|r| r.uai.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let names: HashMap<Uai, String> = self
            .store
            .schools_of(&uais)
            .await?
            .into_iter()
            .map(|s| (s.uai.clone(), s.name))
            .collect();
        let mut entries: Vec<Entry> = reviews
            .iter()
            .filter_map(|r| {
                let message = messages.get(&r.message_id)?;
                let name = names.get(&r.uai).map_or(r.uai.as_str(), String::as_str);
                calendar_feed::entry(owner.role, r, message, name)
            })
            .collect();
        entries.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.uid.cmp(&b.uid)));
        entries.truncate(MAX_ENTRIES);
        Ok(CalendarContent {
            name: format!("Échéances charte — {}", owner.name),
            entries,
            link: self.widget_url.clone(),
            stamp: self.now(),
        })
    }
}
