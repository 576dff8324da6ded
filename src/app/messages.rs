//! Reading messages: one, a page of them, and a message's reviews, as each actor may see them.

use super::*;

impl Charte {
    pub(super) async fn message_academies(&self, m: &Message) -> AppResult<BTreeSet<String>> {
        if !m.academies.is_empty() || m.targets.is_empty() {
            return Ok(m.academies.iter().cloned().collect());
        }
        // Written before the message kept its académies: from its schools, in one read.
        Ok(self
            .store
            .schools_of(&m.targets)
            .await?
            .into_iter()
            .map(|s| s.academie_code)
            .collect())
    }

    /// Whether someone who sees only some schools of a message sees it at all: académie
    /// services whenever it goes to their académie, others when one of its reviews is theirs.
    pub(super) async fn sees_part_of(
        &self,
        actor: &Actor,
        message: &Message,
        visible: &[Review],
    ) -> AppResult<bool> {
        Ok(match access::reach(actor) {
            Reach::Academie(mine) => self.message_academies(message).await?.contains(mine),
            Reach::Everything
            | Reach::Authority(_)
            | Reach::Schools(_)
            | Reach::Disputes(_)
            | Reach::Nothing => !visible.is_empty(),
        })
    }

    /// Presents a message to someone who sees only some of its schools, from the reviews of it
    /// they may see; `None` when they may not see it at all.
    pub(super) async fn present_partial(
        &self,
        actor: &Actor,
        message: &Message,
        visible: Vec<Review>,
    ) -> AppResult<Option<MessageView>> {
        if !self.sees_part_of(actor, message, &visible).await? {
            return Ok(None);
        }
        // Whoever sees only some schools must not learn the others' decisions from the summary,
        // nor which other schools are targeted.
        let targets: BTreeSet<String> = visible.iter().map(|r| r.uai.to_string()).collect();
        let summary = MessageSummary::of(&visible);
        // A head's own reviews are shown whole; others see the schools' summary only.
        let own = match access::reach(actor) {
            Reach::Schools(_) => visible,
            Reach::Everything
            | Reach::Authority(_)
            | Reach::Academie(_)
            | Reach::Disputes(_)
            | Reach::Nothing => vec![],
        };
        Ok(Some(
            self.present_message(
                message,
                &summary,
                present::Seen::Only(targets.into_iter().collect()),
                own,
            )
            .await?,
        ))
    }

    /// One message as the actor may see it: its summary, and a head's own reviews.
    pub async fn get_message(&self, actor: &Actor, id: &str) -> AppResult<MessageView> {
        let Some((message, summary)) = self
            .store
            .messages_with_summaries(&[id.to_owned()])
            .await?
            .into_iter()
            .next()
        else {
            return Err(not_found("Communication"));
        };
        if access::sees_whole_message(actor, &message) {
            let every = present::Seen::Every { listed: true };
            return self
                .present_message(&message, &summary, every, vec![])
                .await;
        }
        let visible = self.visible_reviews_of(actor, &message).await?;
        self.present_partial(actor, &message, visible)
            .await?
            .ok_or_else(|| not_found("Communication"))
    }

    /// The reviews of a message the actor may see.
    pub(super) async fn visible_reviews_of(
        &self,
        actor: &Actor,
        message: &Message,
    ) -> AppResult<Vec<Review>> {
        Ok(self
            .store
            .reviews_of_message(&message.id)
            .await?
            .into_iter()
            .filter(|r| access::sees_review(actor, r))
            .collect())
    }

    /// A message's reviews the actor may see, by school (each school's newest version first),
    /// a page at a time, optionally only those in one state or of one school.
    pub async fn message_reviews(
        &self,
        actor: &Actor,
        id: &str,
        q: &ListQuery,
    ) -> AppResult<ReviewPage> {
        let state = parse_state(q.state.as_deref())?;
        let uai = match q.uai.as_deref() {
            Some(u) => {
                Some(Uai::parse_exact(u).map_err(|e| AppError::invalid("uai", e.to_string()))?)
            }
            None => None,
        };
        let message = self
            .store
            .message(id)
            .await?
            .ok_or_else(|| not_found("Communication"))?;
        let wanted = |r: &Review| {
            state.is_none_or(|s| r.state == s) && uai.as_ref().is_none_or(|u| &r.uai == u)
        };
        if access::sees_whole_message(actor, &message) {
            // The sender pages through the store's order; a school filter starts at the school.
            let limit = page_size(q)?;
            let mut cursor = decode_cursor(q)?;
            if let Some(u) = &uai {
                let start = format!("{u}:");
                if cursor.as_deref().is_none_or(|c| c < start.as_str()) {
                    cursor = Some(start);
                }
            }
            let mut page: Vec<(String, Review)> = Vec::with_capacity(limit + 1);
            'scan: loop {
                let batch = self
                    .store
                    .message_reviews_page(&message.id, cursor.as_deref(), limit + 1)
                    .await?;
                let Some((last, _)) = batch.last() else {
                    break;
                };
                cursor = Some(last.clone());
                for (key, r) in batch {
                    if uai.as_ref().is_some_and(|u| r.uai != *u) {
                        break 'scan;
                    }
                    if wanted(&r) {
                        page.push((key, r));
                        if page.len() > limit {
                            break 'scan;
                        }
                    }
                }
            }
            let next_cursor = if page.len() > limit {
                page.truncate(limit);
                page.last().map(|(k, _)| encode_cursor(k))
            } else {
                None
            };
            let reviews: Vec<&Review> = page.iter().map(|(_, r)| r).collect();
            let items = self.present_reviews(&reviews).await?;
            return Ok(ReviewPage { items, next_cursor });
        }
        let visible = self.visible_reviews_of(actor, &message).await?;
        if !self.sees_part_of(actor, &message, &visible).await? {
            return Err(not_found("Communication"));
        }
        let keyed: Vec<(String, &Review)> = visible
            .iter()
            .filter(|r| wanted(r))
            .map(|r| (crate::store::review_order_key(r), r))
            .collect();
        let (page, next_cursor) = paginate(keyed, q)?;
        let items = self.present_reviews(&page).await?;
        Ok(ReviewPage { items, next_cursor })
    }

    /// The actor's messages, newest first, a page at a time: the sender's and an administrator's
    /// are read a page at a time from the store's timeline, with their stored summaries.
    pub async fn list_messages(&self, actor: &Actor, q: &ListQuery) -> AppResult<MessagePage> {
        let kind = match q.kind.as_deref() {
            None => None,
            Some(k) => Some(MessageKind::parse(k).ok_or_else(|| {
                AppError::invalid(
                    "kind",
                    format!("Type inconnu « {k} » : recurring, one_off ou emergency."),
                )
            })?),
        };
        if let Some(st) = q
            .state
            .as_deref()
            .filter(|st| !MessageStatus::ALL.iter().any(|s| s.name() == *st))
        {
            let names: Vec<&str> = MessageStatus::ALL.iter().map(|s| s.name()).collect();
            return Err(AppError::invalid(
                "status",
                format!("Statut inconnu « {st} » : {}.", names.join(", ")),
            ));
        }
        let limit = page_size(q)?;
        let after = decode_cursor(q)?;
        let wanted = |m: &Message, v: &MessageView| {
            kind.is_none_or(|k| m.kind == k)
                && q.state.as_deref().is_none_or(|s| v.status.name() == s)
        };
        // Every list is a timeline in the store, read a page at a time: an authority's, all
        // messages for administrators, a head's schools', académie services' académie.
        let reach = access::reach(actor);
        let scopes: Vec<String> = match reach {
            Reach::Everything => vec![crate::store::ALL_MESSAGES.to_owned()],
            Reach::Authority(a) => vec![a.to_owned()],
            Reach::Schools(uais) => uais.iter().map(school_timeline).collect(),
            Reach::Academie(a) => vec![academie_timeline(a)],
            Reach::Disputes(_) | Reach::Nothing => vec![],
        };
        let mut items = Vec::with_capacity(limit);
        let mut last_key: Option<String> = None;
        let mut cursor = after;
        loop {
            let (batch, next) = self
                .merged_timelines(&scopes, cursor.as_deref(), limit + 1)
                .await?;
            let ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
            let loaded: HashMap<String, (Message, MessageSummary)> = self
                .store
                .messages_with_summaries(&ids)
                .await?
                .into_iter()
                .map(|(m, s)| (m.id.clone(), (m, s)))
                .collect();
            // A head's reviews of the page's messages, read together.
            let mut visible: HashMap<String, Vec<Review>> = HashMap::new();
            if let Reach::Schools(uais) = reach {
                for u in uais {
                    for r in self.store.reviews_at_school(&ids, u).await? {
                        visible.entry(r.message_id.clone()).or_default().push(r);
                    }
                }
            }
            for (id, key) in &batch {
                let Some((m, summary)) = loaded.get(id) else {
                    continue;
                };
                if kind.is_some_and(|k| m.kind != k) {
                    continue;
                }
                let view = if access::sees_whole_message(actor, m) {
                    let every = present::Seen::Every { listed: false };
                    self.present_message(m, summary, every, vec![]).await?
                } else {
                    let reviews = match (reach, visible.remove(id)) {
                        (_, Some(rs)) => rs,
                        (Reach::Academie(_), None) => self.visible_reviews_of(actor, m).await?,
                        (_, None) => continue,
                    };
                    match self.present_partial(actor, m, reviews).await? {
                        Some(view) => view,
                        None => continue,
                    }
                };
                if !wanted(m, &view) {
                    continue;
                }
                if items.len() == limit {
                    return Ok(MessagePage {
                        items,
                        next_cursor: last_key.as_deref().map(encode_cursor),
                    });
                }
                items.push(view.into());
                last_key = Some(key.clone());
            }
            match next {
                Some(n) => cursor = Some(n),
                None => {
                    return Ok(MessagePage {
                        items,
                        next_cursor: None,
                    });
                }
            }
        }
    }

    /// The next entries of several timelines merged (each message once), newest first, after
    /// `after`: every entry up to the point all of them were read to, with that point (the
    /// cursor of the next batch), or `None` when every timeline is exhausted.
    pub(super) async fn merged_timelines(
        &self,
        scopes: &[String],
        after: Option<&str>,
        per_scope: usize,
    ) -> AppResult<(Vec<(String, String)>, Option<String>)> {
        let mut merged: BTreeMap<String, String> = BTreeMap::new();
        let mut read_to: Option<String> = None;
        for scope in scopes {
            let batch = self.store.timeline(scope, after, per_scope).await?;
            if batch.len() == per_scope
                && let Some((_, last)) = batch.last()
                && read_to.as_ref().is_none_or(|r| last < r)
            {
                read_to = Some(last.clone());
            }
            merged.extend(batch.into_iter().map(|(id, key)| (key, id)));
        }
        let entries = merged
            .into_iter()
            .filter(|(key, _)| read_to.as_ref().is_none_or(|r| key <= r))
            .map(|(key, id)| (id, key))
            .collect();
        Ok((entries, read_to))
    }
}
