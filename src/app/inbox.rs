//! Reviews as a list (inboxes) and one by one.

use super::*;

impl Charte {
    /// Reviews visible to the actor: a head's inbox, soonest deadline first.
    pub async fn list_reviews(&self, actor: &Actor, q: &ListQuery) -> AppResult<ReviewPage> {
        let filter_uai = match q.uai.as_deref() {
            Some(u) => {
                Some(Uai::parse_exact(u).map_err(|e| AppError::invalid("uai", e.to_string()))?)
            }
            None => None,
        };
        let state_filter = parse_state(q.state.as_deref())?;
        // Inboxes (a school's, an authority's) are indexes in the store: only the page is read.
        let reach = access::reach(actor);
        let inboxes: Vec<InboxOf<'_>> = match reach {
            Reach::Schools(uais) => uais
                .iter()
                .filter(|u| filter_uai.as_ref().is_none_or(|f| f == *u))
                .map(InboxOf::School)
                .collect(),
            Reach::Academie(_) | Reach::Everything => match &filter_uai {
                Some(u) => vec![InboxOf::School(u)],
                None => {
                    return Err(AppError::invalid(
                        "uai",
                        "Précisez l'établissement (paramètre `uai`).",
                    ));
                }
            },
            Reach::Authority(authority) => vec![InboxOf::Authority(authority)],
            Reach::Disputes(_) | Reach::Nothing => vec![],
        };
        let limit = page_size(q)?;
        let after = decode_cursor(q)?;
        let keep = |r: &Review| {
            access::sees_review(actor, r)
                && filter_uai.as_ref().is_none_or(|u| *u == r.uai)
                && state_filter.is_none_or(|s| s == r.state)
        };
        let mut merged = Vec::new();
        if let Reach::Disputes(arbitrator) = reach {
            // Waiting disputes are few: their index holds them all.
            for r in self.store.open_disputes(arbitrator).await? {
                let key = crate::store::inbox_key(&r);
                if keep(&r) && after.as_ref().is_none_or(|a| key > *a) {
                    merged.push((key, r));
                }
            }
        }
        for inbox in inboxes {
            merged.extend(
                self.inbox_matching(inbox, state_filter, after.as_deref(), limit + 1, keep)
                    .await?,
            );
        }
        merged.sort_by(|a, b| a.0.cmp(&b.0));
        let more = merged.len() > limit;
        merged.truncate(limit);
        let next_cursor = if more {
            merged.last().map(|(k, _)| b64(k))
        } else {
            None
        };
        // Only the page is presented, its schools read together.
        let page: Vec<&Review> = merged.iter().map(|(_, r)| r).collect();
        let items = self.present_reviews(&page).await?;
        Ok(ReviewPage { items, next_cursor })
    }

    /// Up to `limit` reviews of an inbox after `after` that `keep` keeps, read a page at a time
    /// (one read when, as for a school's own head, every review is kept).
    pub(super) async fn inbox_matching(
        &self,
        inbox: InboxOf<'_>,
        state: Option<ReviewState>,
        after: Option<&str>,
        limit: usize,
        keep: impl Fn(&Review) -> bool,
    ) -> AppResult<Vec<(String, Review)>> {
        let mut out = Vec::with_capacity(limit);
        let mut cursor = after.map(str::to_owned);
        loop {
            let batch = self
                .store
                .inbox_page(inbox, state, cursor.as_deref(), limit)
                .await?;
            let exhausted = batch.len() < limit;
            cursor = batch.last().map(|(k, _)| k.clone());
            out.extend(batch.into_iter().filter(|(_, r)| keep(r)));
            if exhausted || out.len() >= limit {
                out.truncate(limit);
                return Ok(out);
            }
        }
    }

    /// One review with its content, the changes since the previous version, and its history.
    pub async fn get_review(&self, actor: &Actor, id: &str) -> AppResult<ReviewDetail> {
        // One read: the review, its message, its school and its history.
        let c = self
            .store
            .review_context(id)
            .await?
            .filter(|c| access::sees_review(actor, &c.review))
            .ok_or_else(|| not_found("Revue"))?;
        self.present_review_detail_from(&c.message, &c.review, c.school.clone(), c.audit)
            .await
    }
}
