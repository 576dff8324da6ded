//! Disputes, for their arbitrator and the authorities concerned.

use super::*;

impl Charte {
    /// Open disputes for the arbitrator, oldest first.
    pub async fn disputes(&self, actor: &Actor, q: &ListQuery) -> AppResult<DisputePage> {
        let closed = match q.state.as_deref() {
            None | Some("open") => false,
            Some("closed") => true,
            Some(other) => {
                return Err(AppError::invalid(
                    "state",
                    format!(
                        "État de litige inconnu « {other} » : open (en attente d'arbitrage) ou closed (décidé ou clos)."
                    ),
                ));
            }
        };
        access::require(actor, Action::ListDisputes)?;
        // An arbitrator's index holds their disputes; others read all and keep what they see.
        let arbitrator = match access::reach(actor) {
            Reach::Disputes(arbitrator) => arbitrator,
            Reach::Everything
            | Reach::Authority(_)
            | Reach::Schools(_)
            | Reach::Academie(_)
            | Reach::Nothing => None,
        };
        let reviews = if closed {
            self.store.closed_disputes(arbitrator).await?
        } else {
            self.store.open_disputes(arbitrator).await?
        };
        let now = self.now();
        let mut keyed = Vec::new();
        for r in reviews.iter().filter(|r| access::sees_review(actor, r)) {
            let Some(message) = self.store.message(&r.message_id).await? else {
                continue;
            };
            let Some(version) = message.version(r.version) else {
                continue;
            };
            let since = r.escalation.as_ref().map_or(r.opened_at, |s| s.at);
            let age = now - since;
            let key = format!("{:020}{}", since.unix_timestamp() - i64::MIN / 2, r.id);
            keyed.push((
                key,
                DisputeView {
                    id: r.id.clone(),
                    closed_reason: dispute_closed_reason(r.state),
                    age_days: age.whole_days(),
                    age_hours: age.whole_hours(),
                    authority_name: self.authority_name(&message.authority_id),
                    review: self.present_review(r).await?,
                    content: present::version_view(version),
                },
            ));
        }
        let (items, next_cursor) = paginate(keyed, q)?;
        Ok(DisputePage { items, next_cursor })
    }
}
