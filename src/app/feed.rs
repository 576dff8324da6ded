//! The per-school feed the ENT reads, with its entity tag.

use super::*;

impl Charte {
    pub(super) fn feed_school(actor: &Actor, uai: &str) -> AppResult<Uai> {
        let uai = Uai::parse_exact(uai).map_err(|e| AppError::invalid("uai", e.to_string()))?;
        if !access::reads_feed(actor, &uai) {
            return Err(not_found("Établissement"));
        }
        Ok(uai)
    }

    /// The entity tag of what a school's feed shows now: equal tags, equal feeds. It names the
    /// school's feed version, the starts and ends of display still ahead, and the authorities'
    /// names (the one thing in a feed that comes from configuration).
    pub(super) fn feed_etag(&self, tag: FeedTag) -> String {
        let names = self.names_tag.get_or_init(|| {
            let mut h = Sha256::new();
            for a in &self.directory.authorities {
                h.update(a.id.as_bytes());
                h.update([0]);
                h.update(a.name.as_bytes());
                h.update([0]);
            }
            hex::encode(&h.finalize()[..6])
        });
        format!("\"{tag}.{names}\"")
    }

    /// The entity tag of a school's feed, read without its content (for a conditional request).
    pub async fn feed_tag(&self, actor: &Actor, uai: &str) -> AppResult<String> {
        let uai = Self::feed_school(actor, uai)?;
        let tag = self.store.feed_tag(&uai, self.now()).await?;
        Ok(self.feed_etag(tag))
    }

    /// What a school displays now (for each message, the newest approved version, within its
    /// window), with its entity tag: one read of the school's publication index. The answer is
    /// the JSON of a [`Feed`], assembled from the publications as the store keeps them (each
    /// written as JSON once, at commit) with the authorities' names added.
    pub async fn feed(&self, actor: &Actor, uai: &str) -> AppResult<(String, bytes::Bytes)> {
        let uai = Self::feed_school(actor, uai)?;
        let now = self.now();
        // Equal tags mean equal feeds: a feed rendered for this tag is served again as it is.
        let tag = self.feed_etag(self.store.feed_tag(&uai, now).await?);
        if let Ok(cache) = self.rendered_feeds.lock()
            && let Some((cached, body)) = cache.get(uai.as_str())
            && *cached == tag
        {
            return Ok((tag, body.clone()));
        }
        let (tag, mut publications) = self.store.feed(&uai, now).await?;
        publications.retain(|p| p.is_live(now));
        // Newest on display first.
        publications.sort_by(|a, b| {
            b.live_from_us
                .cmp(&a.live_from_us)
                .then_with(|| a.message_id.cmp(&b.message_id))
        });
        let json_string = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        let size: usize = publications.iter().map(|p| p.json.len() + 64).sum();
        let mut body = String::with_capacity(size + 32);
        body.push_str("{\"uai\":");
        body.push_str(&json_string(uai.as_str()));
        body.push_str(",\"items\":[");
        for (i, p) in publications.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            let Some(fields) = p.json.strip_prefix('{') else {
                return Err(AppError::Internal(format!(
                    "publication illisible : {}",
                    p.message_id
                )));
            };
            body.push_str("{\"authority_name\":");
            body.push_str(&json_string(&self.authority_name(&p.authority_id)));
            body.push(',');
            body.push_str(fields);
        }
        body.push_str("]}");
        // Shared, not copied, by every answer that serves it again.
        let (tag, body) = (self.feed_etag(tag), bytes::Bytes::from(body));
        if let Ok(mut cache) = self.rendered_feeds.lock() {
            // A cache, not a record: dropped whole when full (memory stays bounded).
            if cache.len() >= RENDERED_FEEDS_MAX {
                cache.clear();
            }
            cache.insert(uai.to_string(), (tag.clone(), body.clone()));
        }
        Ok((tag, body))
    }
}
