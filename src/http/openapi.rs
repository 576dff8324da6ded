//! Makes the generated OpenAPI document say exactly what the server does: every error answered
//! as `application/problem+json` with the statuses each operation can return, the challenge and
//! retry headers, French summaries, and the links that chain operations (used by clients and by
//! the stateful API fuzzer).

use serde_json::{Map, Value, json};

/// French summary of each operation, by operation id.
const SUMMARIES: [(&str, &str); 37] = [
    (
        "submit_message",
        "Soumettre une communication à l'examen (ou publier une urgence)",
    ),
    (
        "list_messages",
        "Lister les communications visibles, les plus récentes d'abord",
    ),
    (
        "get_message",
        "Lire une communication et sa synthèse par état d'examen",
    ),
    (
        "message_reviews",
        "Lister les examens d'une communication, établissement par établissement",
    ),
    (
        "submit_version",
        "Soumettre une version rectifiée (nouveau délai d'examen)",
    ),
    ("withdraw_message", "Retirer une communication partout"),
    (
        "coproduce",
        "Co-valider une communication d'évaluation (services académiques)",
    ),
    ("audit", "Journal chaîné et vérifié d'une communication"),
    (
        "list_reviews",
        "Lister les examens (boîte du chef d'établissement, échéance la plus proche d'abord)",
    ),
    (
        "get_review",
        "Lire un examen : le contenu tel que les familles le verront",
    ),
    ("approve", "Approuver (chef d'établissement)"),
    (
        "request_rectification",
        "Demander une rectification motivée (chef d'établissement)",
    ),
    (
        "escalate",
        "Saisir l'autorité d'arbitrage d'un litige persistant",
    ),
    ("list_disputes", "Lister les litiges, en attente ou clos"),
    (
        "decide",
        "Trancher un litige : autoriser ou confirmer le refus",
    ),
    (
        "feed",
        "Ce qu'un établissement affiche maintenant (pour l'ENT)",
    ),
    ("deadlines", "Calculer un délai d'examen avant de soumettre"),
    ("schools", "Annuaire des établissements"),
    ("authorities", "Collectivités et nombre de leurs urgences"),
    ("outbox", "Courriels de la file d'envoi (administrateurs)"),
    ("dead_letters", "Courriels abandonnés (administrateurs)"),
    (
        "retry_dead_letter",
        "Remettre un courriel abandonné en file (administrateurs)",
    ),
    ("labels", "Libellés français des codes de l'API"),
    ("healthz", "Vivacité : le processus répond"),
    ("readyz", "Disponibilité : le stockage répond"),
    ("metrics", "Métriques Prometheus"),
    (
        "create_feed",
        "Créer un calendrier privé de ses échéances (adresse iCalendar)",
    ),
    ("list_feeds", "Lister ses calendriers privés"),
    ("revoke_feed", "Révoquer un calendrier privé"),
    (
        "calendar",
        "Lire un calendrier privé (iCalendar, avec le secret de son adresse)",
    ),
    (
        "create_webhook",
        "Abonner un destinataire aux webhooks signés (secret montré une fois)",
    ),
    ("list_webhooks", "Lister ses abonnements webhooks"),
    ("get_webhook", "Lire un abonnement webhook"),
    ("delete_webhook", "Supprimer un abonnement webhook"),
    (
        "rotate_webhook_secret",
        "Changer le secret de signature (l'ancien signe encore 24 h)",
    ),
    (
        "webhook_deliveries",
        "Livraisons d'un abonnement, les plus récentes d'abord",
    ),
    (
        "retry_webhook_delivery",
        "Relivrer une livraison abandonnée",
    ),
];

/// Statuses an operation returns beyond the generic ones (by operation id): role refusals
/// (403), unknown or invisible resources (404), states that forbid the action (409).
const SPECIFIC: [(&str, &[u16]); 28] = [
    ("submit_message", &[403, 409]),
    ("get_message", &[404]),
    ("message_reviews", &[404]),
    ("submit_version", &[403, 404, 409]),
    ("withdraw_message", &[403, 404, 409]),
    ("coproduce", &[403, 404, 409]),
    ("audit", &[404]),
    ("get_review", &[404]),
    ("approve", &[403, 404, 409]),
    ("request_rectification", &[403, 404, 409]),
    ("escalate", &[403, 404, 409]),
    ("list_disputes", &[403]),
    ("decide", &[403, 404, 409]),
    ("feed", &[404]),
    ("outbox", &[403]),
    ("dead_letters", &[403]),
    ("retry_dead_letter", &[403, 404, 409]),
    ("create_feed", &[403, 409]),
    ("list_feeds", &[403]),
    ("revoke_feed", &[403, 404]),
    // Read without a token, but through the same edge as every route (quota, header size) and
    // from the store.
    ("calendar", &[404, 429, 431, 503]),
    ("create_webhook", &[403, 409]),
    ("list_webhooks", &[403]),
    ("get_webhook", &[403, 404]),
    ("delete_webhook", &[403, 404]),
    ("rotate_webhook_secret", &[403, 404]),
    ("webhook_deliveries", &[403, 404]),
    ("retry_webhook_delivery", &[403, 404, 409]),
];

/// Formats of response fields the views carry as text: instants (RFC 3339) and dates.
const FORMATS: [(&str, &str, &str); 36] = [
    ("DeadlineView", "expires_at", "date-time"),
    ("DeadlineView", "submitted_at", "date-time"),
    ("DeadlineView", "last_day", "date"),
    ("DeadlineView", "extended_from", "date"),
    ("FeedItem", "live_from", "date-time"),
    ("FeedItem", "display_until", "date-time"),
    ("MessageView", "submitted_at", "date-time"),
    ("MessageView", "next_deadline", "date-time"),
    ("MessageItem", "submitted_at", "date-time"),
    ("MessageItem", "next_deadline", "date-time"),
    ("ReviewView", "deadline", "date-time"),
    ("ReviewView", "deadline_last_day", "date"),
    ("ReviewView", "decided_at", "date-time"),
    ("ReviewView", "live_from", "date-time"),
    ("ReviewView", "opened_at", "date-time"),
    ("SkippedDayView", "date", "date"),
    ("VersionView", "display_until", "date-time"),
    ("VersionView", "publish_at", "date-time"),
    ("VersionView", "submitted_at", "date-time"),
    ("ReviewView", "id", "uuid"),
    ("CalendarFeedCreated", "created_at", "date-time"),
    ("CalendarFeedCreated", "url", "uri"),
    ("CalendarFeedView", "created_at", "date-time"),
    ("CalendarFeedView", "id", "uuid"),
    ("WebhookRequest", "url", "uri"),
    ("WebhookView", "url", "uri"),
    ("WebhookView", "id", "uuid"),
    ("WebhookView", "created_at", "date-time"),
    ("WebhookView", "previous_secret_expires_at", "date-time"),
    ("DisabledView", "at", "date-time"),
    ("DeliveryView", "id", "uuid"),
    ("DeliveryView", "next_attempt_at", "date-time"),
    ("DeliveryView", "created_at", "date-time"),
    ("DeliveryView", "finished_at", "date-time"),
    ("WebhookPayload", "timestamp", "date-time"),
    ("EventLinks", "message", "uri"),
];

/// French description of each error status.
fn describe(status: u16) -> &'static str {
    match status {
        400 => "JSON illisible (l'endroit de l'erreur est dit)",
        401 => "Jeton absent ou refusé (la raison est dite ; en-tête WWW-Authenticate)",
        403 => "Action non permise pour ce rôle",
        404 => "Introuvable, ou invisible pour l'appelant",
        405 => "Méthode non permise sur cette adresse (en-tête Allow)",
        409 => "Action impossible dans l'état actuel (l'état et la raison sont dits)",
        413 => "Corps de requête trop volumineux (256 Kio au plus)",
        415 => "Corps non JSON : envoyez Content-Type: application/json",
        422 => "Données invalides : chaque champ fautif est nommé dans `errors`",
        429 => "Trop de requêtes : réessayez après Retry-After secondes",
        431 => "En-têtes ou jeton trop volumineux",
        503 => "Stockage momentanément injoignable : réessayez après Retry-After secondes",
        _ => "Erreur",
    }
}

/// The generated document, refined, as served: JSON, where the refinements are simplest (and
/// where links keep their `operationId`, which utoipa's own types would drop).
pub fn refine(doc: &utoipa::openapi::OpenApi) -> Value {
    let mut value = serde_json::to_value(doc).unwrap_or(Value::Null);
    refine_value(&mut value);
    value
}

fn refine_value(doc: &mut Value) {
    if let Some(doc) = doc.as_object_mut() {
        doc.insert("webhooks".into(), webhooks());
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (schema, property, format) in FORMATS {
            if let Some(p) = schemas
                .get_mut(schema)
                .and_then(|s| s.pointer_mut(&format!("/properties/{property}")))
                .and_then(Value::as_object_mut)
            {
                p.insert("format".into(), json!(format));
            }
        }
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (_method, op) in item.iter_mut() {
            if let Some(op) = op.as_object_mut() {
                refine_operation(path, op);
            }
        }
    }
}

/// What charte sends to subscribed receivers (OpenAPI 3.1 `webhooks`): one POST per event type,
/// signed as Standard Webhooks says; any 2xx acknowledges it, 410 ends the subscription, anything
/// else is retried.
fn webhooks() -> Value {
    let header = |name: &str, description: &str| {
        json!({"name": name, "in": "header", "required": true, "description": description,
            "schema": {"type": "string"}})
    };
    let mut out = Map::new();
    for kind in crate::domain::webhook::EventType::ALL {
        out.insert(
            kind.name().into(),
            json!({"post": {
                "operationId": format!("webhook_{}", kind.name().replace('.', "_")),
                "summary": kind.label(),
                "tags": ["webhooks"],
                "parameters": [
                    header("webhook-id", "Identifiant de l'événement, le même à chaque nouvelle tentative (dédoublonnez avec)"),
                    header("webhook-timestamp", "Instant de l'envoi, en secondes depuis l'époque Unix (refusez s'il est trop ancien)"),
                    header("webhook-signature", "`v1,` et la base64 du HMAC-SHA256 de `id.timestamp.corps` par le secret ; plusieurs, séparées par des espaces, pendant une rotation"),
                ],
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/WebhookPayload"}}}},
                "responses": {
                    "2XX": {"description": "Reçu : la livraison est terminée"},
                    "410": {"description": "Le destinataire n'en veut plus : l'abonnement est désactivé"},
                    "default": {"description": "Toute autre réponse, ou aucune en 15 s : nouvelle tentative selon le calendrier (Retry-After respecté)"}
                }
            }}),
        );
    }
    Value::Object(out)
}

fn header_doc(name: &str) -> Value {
    match name {
        "WWW-Authenticate" => json!({
            "description": "Défi Bearer (RFC 6750) : error=\"invalid_token\" et error_description pour un jeton refusé",
            "schema": {"type": "string"}
        }),
        _ => json!({
            "description": "Secondes à attendre avant de réessayer",
            "schema": {"type": "integer", "minimum": 1}
        }),
    }
}

fn problem_response(status: u16) -> Value {
    let mut r = json!({
        "description": describe(status),
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    });
    let header = match status {
        401 => Some("WWW-Authenticate"),
        429 | 503 => Some("Retry-After"),
        _ => None,
    };
    if let Some(h) = header {
        r["headers"] = json!({ h: header_doc(h) });
    }
    if status == 405 {
        r["headers"] =
            json!({"Allow": {"description": "Méthodes permises", "schema": {"type": "string"}}});
    }
    r
}

fn refine_operation(path: &str, op: &mut Map<String, Value>) {
    let id = op
        .get("operationId")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if let Some((_, summary)) = SUMMARIES.iter().find(|(o, _)| *o == id) {
        // The English doc comment stays as the description, for developers.
        if let Some(english) = op.remove("summary") {
            op.entry("description").or_insert(english);
        }
        op.insert("summary".into(), json!(summary));
    }
    let secured = op.contains_key("security");
    let has_body = op.contains_key("requestBody");
    let has_params = op
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());

    let mut statuses: Vec<u16> = vec![405];
    if secured {
        statuses.extend([401, 429, 431, 503]);
    }
    if has_body {
        statuses.extend([400, 413, 415, 422]);
    }
    if has_params {
        statuses.push(422);
    }
    if let Some((_, extra)) = SPECIFIC.iter().find(|(o, _)| *o == id) {
        statuses.extend(extra.iter().copied());
    }
    if path == "/readyz" {
        statuses.push(503);
    }

    // The bodiless actions take nothing or `{}`; `null` is refused.
    if matches!(
        id.as_str(),
        "approve"
            | "coproduce"
            | "create_feed"
            | "rotate_webhook_secret"
            | "retry_webhook_delivery"
    ) && let Some(body) = op.get_mut("requestBody")
    {
        body["required"] = json!(false);
        body["content"] =
            json!({"application/json": {"schema": {"$ref": "#/components/schemas/NoBody"}}});
    }
    if id == "withdraw_message"
        && let Some(body) = op.get_mut("requestBody")
    {
        body["required"] = json!(false);
    }
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in params {
            if p["name"] == "Idempotency-Key" {
                p["schema"] = json!({"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]{1,200}$"});
            }
            // Messages, reviews and disputes are named by UUIDs; emails by their own ids.
            if p["name"] == "id" && p["in"] == "path" && id != "retry_dead_letter" {
                p["schema"] = json!({"type": "string", "format": "uuid"});
            }
            if p["name"] == "delivery_id" && p["in"] == "path" {
                p["schema"] = json!({"type": "string", "format": "uuid"});
            }
            if p["name"] == "uai" && p["in"] == "path" {
                p["schema"] = json!({"type": "string", "pattern": "^[0-9]{7}[A-Z]$"});
            }
        }
    }
    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(responses) = responses else { return };
    // Problems are application/problem+json, whatever the annotation said.
    for (_, r) in responses.iter_mut() {
        let Some(content) = r.get_mut("content").and_then(Value::as_object_mut) else {
            continue;
        };
        if let Some(json) = content.get("application/json")
            && json["schema"]["$ref"] == "#/components/schemas/Problem"
        {
            let json = json.clone();
            content.remove("application/json");
            content.insert("application/problem+json".into(), json);
        }
    }
    for status in statuses {
        let key = status.to_string();
        match responses.get_mut(&key) {
            None => {
                responses.insert(key, problem_response(status));
            }
            Some(existing) => {
                let full = problem_response(status);
                if existing["description"].as_str().unwrap_or("").is_empty() {
                    existing["description"] = full["description"].clone();
                }
                if let Some(h) = full.get("headers") {
                    existing["headers"] = h.clone();
                }
            }
        }
    }
    for (status, r) in responses.iter_mut() {
        if r["description"].as_str().unwrap_or("").is_empty() {
            r["description"] = json!(match status.as_str() {
                "200" => "Succès",
                "201" => "Créé",
                "304" => "Inchangé",
                _ => "Réponse",
            });
        }
    }

    add_links(&id, responses);
}

/// Links from a response to the operations its ids feed: a client (and a stateful fuzzer)
/// can follow a created message to its reviews and decisions.
fn add_links(id: &str, responses: &mut Map<String, Value>) {
    let link =
        |op: &str, param: &str, expr: &str| json!({"operationId": op, "parameters": {param: expr}});
    let (status, links) = match id {
        "submit_message" => (
            "201",
            json!({
                "GetMessage": link("get_message", "id", "$response.body#/id"),
                "SubmitVersion": link("submit_version", "id", "$response.body#/id"),
                "WithdrawMessage": link("withdraw_message", "id", "$response.body#/id"),
                "Coproduce": link("coproduce", "id", "$response.body#/id"),
                "Audit": link("audit", "id", "$response.body#/id"),
                "MessageReviews": link("message_reviews", "id", "$response.body#/id"),
            }),
        ),
        "message_reviews" => (
            "200",
            json!({
                "GetReview": link("get_review", "id", "$response.body#/items/0/id"),
                "Escalate": link("escalate", "id", "$response.body#/items/0/id"),
            }),
        ),
        "list_reviews" => (
            "200",
            json!({
                "GetReview": link("get_review", "id", "$response.body#/items/0/id"),
                "Approve": link("approve", "id", "$response.body#/items/0/id"),
                "RequestRectification": link("request_rectification", "id", "$response.body#/items/0/id"),
                "Escalate": link("escalate", "id", "$response.body#/items/0/id"),
            }),
        ),
        "list_messages" => (
            "200",
            json!({
                "GetMessage": link("get_message", "id", "$response.body#/items/0/id"),
                "Audit": link("audit", "id", "$response.body#/items/0/id"),
                "SubmitVersion": link("submit_version", "id", "$response.body#/items/0/id"),
                "MessageReviews": link("message_reviews", "id", "$response.body#/items/0/id"),
            }),
        ),
        "list_disputes" => (
            "200",
            json!({
                "Decide": link("decide", "id", "$response.body#/items/0/id"),
                "GetReview": link("get_review", "id", "$response.body#/items/0/id"),
            }),
        ),
        "request_rectification" => (
            "200",
            json!({
                "Escalate": link("escalate", "id", "$response.body#/review/id"),
            }),
        ),
        "escalate" => (
            "200",
            json!({
                "Decide": link("decide", "id", "$response.body#/review/id"),
            }),
        ),
        _ => return,
    };
    if let Some(r) = responses.get_mut(status).and_then(Value::as_object_mut) {
        r.insert("links".into(), links);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_operation_says_its_errors_as_problems() {
        let doc = super::super::document();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                for (status, r) in responses {
                    let code: u16 = status.parse().unwrap();
                    if code >= 400 {
                        assert!(
                            r["content"]["application/problem+json"].is_object(),
                            "{method} {path} {status}"
                        );
                    }
                }
                if op.get("security").is_some() {
                    for s in ["401", "429", "431", "503"] {
                        assert!(responses.contains_key(s), "{method} {path} {s}");
                    }
                    assert!(responses["401"]["headers"]["WWW-Authenticate"].is_object());
                }
                assert!(
                    op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                    "{method} {path}"
                );
            }
        }
        for (schema, property, format) in super::FORMATS {
            assert_eq!(
                doc["components"]["schemas"][schema]["properties"][property]["format"], format,
                "{schema}.{property}"
            );
        }
        let submit = &doc["paths"]["/v1/messages"]["post"]["responses"]["201"]["links"];
        assert_eq!(
            submit["GetMessage"]["parameters"]["id"],
            "$response.body#/id"
        );
    }
}
