//! The feed tags a replica has read, kept so that the ENT's conditional polls are answered
//! without reading the store. On the embedded store the process is the only writer and
//! forgets what its commits change. On Redis, a tag stays valid until a commit changes the
//! school's publications (each such commit publishes the school on a channel every replica
//! listens to, and the replica that commits also forgets it at once) or until the next start
//! or end of display it counted as upcoming. Tags are served only while the subscription is
//! known to work: it is checked by a heartbeat, and a replica that stops hearing its own
//! heartbeat forgets everything and reads Redis again until the subscription is back.

use std::collections::HashMap;
use std::sync::{Mutex, Weak};
use std::time::Duration;

use futures_util::StreamExt;

use super::FeedTag;

/// How many schools' tags are kept at most (the national directory has about 60,000).
const MAX_ENTRIES: usize = 100_000;
/// How often the subscription proves it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a heartbeat may take to come back before the subscription is held dead.
const HEARTBEAT_GRACE: Duration = Duration::from_secs(2);
/// The heartbeat's messages start with a byte no UAI contains.
const PING: &str = "\u{0}ping:";

#[derive(Default)]
struct State {
    /// Whether the subscription is known to deliver (tags may be served).
    live: bool,
    /// Moves at each invalidation, so a tag read before one is not kept after it.
    generation: u64,
    /// Per school: its tag, and the span of instants (µs) it holds for: from when it was read
    /// (a clock may be moved back, in tests) until the next start or end of display.
    tags: HashMap<String, (FeedTag, std::ops::Range<i64>)>,
}

/// The cache of feed tags of one replica (shared by the store's clones).
#[derive(Default)]
pub(crate) struct FeedTags {
    state: Mutex<State>,
}

impl FeedTags {
    /// A cache that keeps tags from the start (a store whose only writer is this process).
    pub(crate) fn live() -> Self {
        let tags = Self::default();
        tags.set_live(true);
        tags
    }

    /// The school's tag at `now_us`, if known and still valid.
    pub(crate) fn get(&self, uai: &str, now_us: i64) -> Option<FeedTag> {
        let state = self.state.lock().ok()?;
        if !state.live {
            return None;
        }
        state
            .tags
            .get(uai)
            .filter(|(_, span)| span.contains(&now_us))
            .map(|(tag, _)| *tag)
    }

    /// The generation before a read from Redis, or `None` when tags are not being kept.
    pub(crate) fn generation(&self) -> Option<u64> {
        let state = self.state.lock().ok()?;
        state.live.then_some(state.generation)
    }

    /// Keeps a tag read from Redis for the instants `span`, unless an invalidation came since
    /// `generation`.
    pub(crate) fn put(&self, generation: u64, uai: &str, tag: FeedTag, span: std::ops::Range<i64>) {
        if let Ok(mut state) = self.state.lock()
            && state.live
            && state.generation == generation
        {
            if state.tags.len() >= MAX_ENTRIES {
                state.tags.clear();
            }
            state.tags.insert(uai.to_owned(), (tag, span));
        }
    }

    /// Forgets a school's tag (its feed changed).
    pub(crate) fn invalidate(&self, uai: &str) {
        if let Ok(mut state) = self.state.lock() {
            state.generation += 1;
            state.tags.remove(uai);
        }
    }

    /// Forgets every tag (the data under them was wiped).
    pub(crate) fn forget_all(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.generation += 1;
            state.tags.clear();
        }
    }

    /// Starts or stops keeping tags; either way, what was kept is forgotten.
    fn set_live(&self, live: bool) {
        if let Ok(mut state) = self.state.lock() {
            state.live = live;
            state.generation += 1;
            state.tags.clear();
        }
    }
}

/// Listens on `channel` for the schools whose feed changed, for as long as `tags` is in use;
/// reconnects after any failure, publishing its heartbeat through `conn`.
pub(crate) async fn listen(
    client: redis::Client,
    mut conn: redis::aio::ConnectionManager,
    channel: String,
    tags: Weak<FeedTags>,
) {
    let mut nonce: u64 = 0;
    loop {
        let Some(cache) = tags.upgrade() else { return };
        cache.set_live(false);
        drop(cache);
        if let Ok(Ok(mut pubsub)) =
            tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub()).await
            && pubsub.subscribe(&channel).await.is_ok()
        {
            let mut messages = pubsub.on_message();
            let mut beat = tokio::time::interval(HEARTBEAT);
            // The heartbeat awaited, and since when.
            let mut awaiting: Option<(String, tokio::time::Instant)> = None;
            loop {
                tokio::select! {
                    message = messages.next() => {
                        let Some(message) = message else { break };
                        let Ok(payload) = message.get_payload::<String>() else { continue };
                        let Some(cache) = tags.upgrade() else { return };
                        if awaiting.as_ref().is_some_and(|(ping, _)| *ping == payload) {
                            awaiting = None;
                            // The first heartbeat heard opens the cache.
                            if cache.generation().is_none() {
                                cache.set_live(true);
                            }
                        } else if !payload.starts_with(PING) {
                            // One commit's schools come as one message, separated by spaces.
                            for uai in payload.split(' ') {
                                cache.invalidate(uai);
                            }
                        }
                    }
                    _ = beat.tick() => {
                        if tags.strong_count() == 0 {
                            return;
                        }
                        match &awaiting {
                            Some((_, since)) if since.elapsed() > HEARTBEAT_GRACE => break,
                            Some(_) => {}
                            None => {
                                nonce += 1;
                                let ping = format!("{PING}{nonce}");
                                let sent: redis::RedisResult<i64> = tokio::time::timeout(
                                    Duration::from_secs(1),
                                    redis::cmd("PUBLISH").arg(&channel).arg(&ping).query_async(&mut conn),
                                )
                                .await
                                .unwrap_or_else(|_| Err(redis::RedisError::from((
                                    redis::ErrorKind::IoError,
                                    "délai dépassé",
                                ))));
                                if sent.is_err() {
                                    break;
                                }
                                awaiting = Some((ping, tokio::time::Instant::now()));
                            }
                        }
                    }
                }
            }
            tracing::warn!(
                "abonnement aux changements de fils perdu : les étiquettes sont relues dans Redis jusqu'à son retour"
            );
        }
        if let Some(cache) = tags.upgrade() {
            cache.set_live(false);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(version: u64) -> FeedTag {
        FeedTag {
            version,
            upcoming: 1,
        }
    }

    #[test]
    fn nothing_is_kept_until_the_subscription_is_live_nor_after_it_is_lost() {
        let tags = FeedTags::default();
        assert_eq!(tags.generation(), None);
        tags.put(0, "0570054Z", tag(1), 0..100);
        assert_eq!(tags.get("0570054Z", 0), None);
        tags.set_live(true);
        let g = tags.generation().unwrap();
        tags.put(g, "0570054Z", tag(1), 0..100);
        assert_eq!(tags.get("0570054Z", 99), Some(tag(1)));
        tags.set_live(false);
        assert_eq!(tags.get("0570054Z", 0), None);
    }

    #[test]
    fn a_tag_holds_until_its_next_bound_or_an_invalidation() {
        let tags = FeedTags::default();
        tags.set_live(true);
        let g = tags.generation().unwrap();
        tags.put(g, "0570054Z", tag(1), 10..100);
        assert_eq!(tags.get("0570054Z", 100), None, "the bound has come");
        assert_eq!(tags.get("0570054Z", 9), None, "before it was read");
        assert_eq!(tags.get("0570054Z", 10), Some(tag(1)));
        tags.invalidate("0570054Z");
        assert_eq!(tags.get("0570054Z", 0), None);
    }

    #[test]
    fn a_tag_read_before_an_invalidation_is_not_kept_after_it() {
        let tags = FeedTags::default();
        tags.set_live(true);
        let before = tags.generation().unwrap();
        // Another school's change also counts: the read may have raced with any commit.
        tags.invalidate("0670080Y");
        tags.put(before, "0570054Z", tag(1), 0..100);
        assert_eq!(tags.get("0570054Z", 0), None);
    }
}
