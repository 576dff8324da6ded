//! The background tasks of the workflow: the deadline scheduler (sleeps until the next deadline,
//! can be woken early, and turns every expired pending review into a tacit approval exactly
//! once), and the fan-out worker that opens the reviews of large submissions.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::app::Charte;

/// How many due reviews one batch handles, so a backlog never blocks the API.
pub const BATCH: usize = 500;
/// Upper bound on a sleep, so a clock jump or a missed wake-up is caught soon.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Pause after a store error.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(2);

/// Runs until `shutdown` turns true.
pub async fn run(charte: Arc<Charte>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let sleep = match charte.sweep_due(BATCH).await {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(accords_tacites = n, "balayage des délais");
                }
                match charte.next_deadline().await {
                    Ok(Some(next)) => {
                        let wait = next - charte.now();
                        if wait.is_negative() {
                            Duration::ZERO
                        } else {
                            let real = Duration::try_from(wait).unwrap_or(MAX_SLEEP)
                                / charte.clock_speed();
                            real.min(MAX_SLEEP)
                        }
                    }
                    Ok(None) => MAX_SLEEP,
                    Err(e) => {
                        tracing::warn!(error = %e, "prochain délai illisible");
                        RETRY_AFTER_ERROR
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "balayage des délais interrompu");
                RETRY_AFTER_ERROR
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = charte.deadline_added() => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            tracing::info!("planificateur arrêté");
            return;
        }
    }
}

/// Opens the reviews that large submissions left to a fan-out job (at start, those a crash
/// interrupted), whenever a submission wakes it; runs until `shutdown` turns true.
pub async fn open_reviews(charte: Arc<Charte>, mut shutdown: watch::Receiver<bool>) {
    loop {
        // A job cut short by a shutdown resumes at the next start: it is durable.
        let stop = shutdown.clone();
        let stopping = move || *stop.borrow();
        let sleep = match charte.open_pending_reviews(&stopping).await {
            // More jobs may wait behind the ones just finished.
            Ok(n) if n > 0 => Duration::ZERO,
            Ok(_) => MAX_SLEEP,
            Err(e) => {
                tracing::warn!(error = %e, "ouverture des revues interrompue");
                RETRY_AFTER_ERROR
            }
        };
        if !sleep.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = charte.fan_out_queued() => {}
                _ = shutdown.changed() => {}
            }
        }
        if *shutdown.borrow() {
            return;
        }
    }
}
