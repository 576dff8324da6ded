//! `/v1/calendar-feeds`: private iCalendar feeds of one's deadlines, for calendar applications.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use icalendar::{Alarm, Calendar, Component, Event, EventLike, Property};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Authenticated;
use super::error::{ApiResult, Problem};
use super::input::{ApiQuery, Bodiless, NoBody};
use crate::app::calendar_feeds::CalendarContent;
use crate::app::views::{CalendarFeedCreated, CalendarFeedList};

/// This resource's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_feed, list_feeds))
        .routes(routes!(revoke_feed))
        .routes(routes!(calendar))
}

/// Create a private calendar feed of your deadlines (head: your reviews; arbitrator: your
/// disputes; authority staff: your messages' pending schools). The answer holds its URL, with
/// its secret, this once.
#[utoipa::path(post, path = "/v1/calendar-feeds", tag = "calendar",
    request_body(content = Option<NoBody>, description = "Aucun corps, ou l'objet vide {}"),
    responses((status = 201, body = CalendarFeedCreated), (status = 403, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_feed(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    _: Bodiless,
) -> ApiResult<(StatusCode, Json<CalendarFeedCreated>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.charte.create_calendar_feed(&actor).await?),
    ))
}

/// Your calendar feeds, oldest first (their URLs are not shown again).
#[utoipa::path(get, path = "/v1/calendar-feeds", tag = "calendar",
    responses((status = 200, body = CalendarFeedList), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_feeds(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
) -> ApiResult<Json<CalendarFeedList>> {
    Ok(Json(s.charte.calendar_feeds(&actor).await?))
}

/// Revoke one of your calendar feeds: its URL answers 404 from then on.
#[utoipa::path(delete, path = "/v1/calendar-feeds/{id}", tag = "calendar", params(("id" = String, Path)),
    responses((status = 204, description = "Révoqué"), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn revoke_feed(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.charte.revoke_calendar_feed(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The secret of a calendar feed's URL.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CalendarParams {
    /// The secret given with the feed's URL.
    pub token: String,
}

/// A calendar feed (iCalendar, RFC 5545): one event per open deadline at its legal instant, with
/// an alarm the day before, or per waiting dispute. Read with the secret of its URL alone.
#[utoipa::path(get, path = "/v1/calendar-feeds/{id}/calendar.ics", tag = "calendar",
    params(("id" = String, Path), CalendarParams),
    responses((status = 200, description = "Le calendrier", content_type = "text/calendar", body = String),
        (status = 404, body = Problem)))]
pub async fn calendar(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<CalendarParams>,
) -> ApiResult<Response> {
    let content = s.charte.calendar(&id, &q.token).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/calendar; charset=utf-8"),
        )],
        render(&content),
    )
        .into_response())
}

/// The feed as iCalendar text.
fn render(content: &CalendarContent) -> String {
    let utc = |at: time::OffsetDateTime| {
        chrono::DateTime::from_timestamp(at.unix_timestamp(), at.nanosecond()).unwrap_or_default()
    };
    let mut calendar = Calendar::empty();
    calendar
        .append_property(("VERSION", "2.0"))
        .append_property(("PRODID", "-//charte//Echeances//FR"))
        .append_property(("CALSCALE", "GREGORIAN"))
        .append_property(("METHOD", "PUBLISH"))
        .name(&content.name)
        // Calendar applications poll at this interval when they honour it.
        .append_property(
            Property::new("REFRESH-INTERVAL", "PT1H")
                .add_parameter("VALUE", "DURATION")
                .done(),
        )
        .append_property(("X-PUBLISHED-TTL", "PT1H"));
    for entry in &content.entries {
        let at = utc(entry.at);
        let mut event = Event::new();
        event
            .uid(&entry.uid)
            .timestamp(utc(content.stamp))
            .summary(&entry.summary)
            .description(&entry.description)
            .starts(at)
            .ends(at)
            .url(&content.link);
        if entry.is_deadline {
            // The alarm's own UID stays the same from one read to the next, as the event's does,
            // so that a calendar does not take it for a new alarm (RFC 9074).
            event.alarm(
                Alarm::display(&entry.summary, -chrono::Duration::days(1))
                    .uid(&format!("rappel-{}", entry.uid))
                    .timestamp(utc(content.stamp))
                    .done(),
            );
        }
        calendar.push(event.done());
    }
    calendar.done().to_string()
}
