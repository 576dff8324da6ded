//! A message's audit trail, as the actor may read it, verified.

use super::*;

impl Charte {
    /// A message's audit trail, verified.
    pub async fn audit(
        &self,
        actor: &Actor,
        message_id: &str,
        q: &ListQuery,
    ) -> AppResult<AuditView> {
        let limit = page_size(q)?;
        let after = decode_cursor(q)?;
        let only = match q.uai.as_deref() {
            Some(u) => {
                Some(Uai::parse_exact(u).map_err(|e| AppError::invalid("uai", e.to_string()))?)
            }
            None => None,
        };
        let view = self.get_message(actor, message_id).await?;
        // The schools whose chains the caller may read: every target for the sender and
        // administrators, their own schools for the others. A page holds whole chains, the
        // message's own on the first page, then schools in UAI order.
        let mut schools: Vec<&str> = view
            .targets
            .iter()
            .map(String::as_str)
            .filter(|u| only.as_ref().is_none_or(|o| o.as_str() == *u))
            .filter(|u| after.as_deref().is_none_or(|a| *u > a))
            .collect();
        schools.sort_unstable();
        let more = schools.len() > limit;
        schools.truncate(limit);
        let mut chains: Vec<String> = Vec::with_capacity(schools.len() + 1);
        if after.is_none() {
            chains.push(crate::domain::audit::MESSAGE_CHAIN.to_owned());
        }
        chains.extend(schools.iter().map(|u| (*u).to_owned()));
        let mut records = self.store.audit_of_chains(message_id, &chains).await?;
        // In order of events; within one commit the message-wide record comes first.
        records.sort_by(|a, b| {
            (
                a.entry.at,
                a.chain != crate::domain::audit::MESSAGE_CHAIN,
                &a.chain,
                a.seq,
            )
                .cmp(&(
                    b.entry.at,
                    b.chain != crate::domain::audit::MESSAGE_CHAIN,
                    &b.chain,
                    b.seq,
                ))
        });
        let verification = crate::domain::audit::verify(&records).into();
        // The message's own chain may name other schools: only the sender and administrators
        // read those records (the chain is verified whole all the same).
        let full = access::reads_message_chain(actor);
        let mine: BTreeSet<&str> = view.targets.iter().map(String::as_str).collect();
        let records = records
            .into_iter()
            .filter(|r| full || r.entry.uai.as_deref().is_none_or(|u| mine.contains(u)))
            .collect();
        Ok(AuditView {
            message_id: message_id.to_owned(),
            verification,
            records,
            next_cursor: more
                .then(|| schools.last().map(|u| encode_cursor(u)))
                .flatten(),
        })
    }
}
