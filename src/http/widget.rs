//! The ENT widget, served by the service itself (placeholder until the widget lands).

use axum::Router;

use super::AppState;

/// Routes serving the widget under `/widget/`.
pub fn router(_frame_ancestors: &[String]) -> Router<AppState> {
    Router::new()
}
