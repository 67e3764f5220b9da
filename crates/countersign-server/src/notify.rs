//! Outgoing notifications: when a review is assigned or escalated, the glass is broken or an
//! after-the-fact review is overdue, a delivery per configured webhook is queued in the same
//! transaction as the write that caused it, so nothing is announced that did not happen and
//! nothing that happened is lost on a restart. A deliverer task sends them, retrying with backoff.

use std::sync::Arc;
use std::time::Duration;

use countersign_store::{ChangeRow, DeliveryRow, Store, StoreError, WriteTx};
use serde_json::{Value, json};

use crate::{AppState, Settings, now_millis};

/// What a webhook receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookFormat {
    /// countersign's own JSON: event, summary, change (with the link to its page), detail.
    Json,
    /// Slack-compatible incoming-webhook JSON: `{"text": …}`.
    Slack,
}

impl WebhookFormat {
    fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
        }
    }
}

/// An outgoing webhook. Its URL often is the secret (Slack's are), so `Debug` shows only the host.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
    pub format: WebhookFormat,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = self.url.split("://").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or("?");
        f.debug_struct("Webhook").field("host", &host).field("format", &self.format).finish()
    }
}

impl Webhook {
    /// A webhook from the command line: `http://` or `https://` only.
    pub fn parse(url: &str, format: WebhookFormat) -> Result<Webhook, String> {
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048 {
            return Err(format!("`{url}` is not an http:// or https:// URL"));
        }
        Ok(Webhook { url: url.to_owned(), format })
    }
}

/// The webhooks of `--notify` (countersign JSON) and `--notify-slack` URLs.
pub fn webhooks(json: &[String], slack: &[String]) -> Result<Vec<Webhook>, String> {
    let json = json.iter().map(|url| Webhook::parse(url, WebhookFormat::Json));
    let slack = slack.iter().map(|url| Webhook::parse(url, WebhookFormat::Slack));
    json.chain(slack).collect()
}

/// The link to a change's page.
pub fn change_url(settings: &Settings, change_id: i64) -> String {
    format!("{}/changes/{change_id}", settings.public_url.trim_end_matches('/'))
}

/// Queues the event for every configured webhook.
pub async fn enqueue<T: WriteTx>(
    tx: &mut T,
    settings: &Settings,
    now: i64,
    event: &str,
    row: &ChangeRow,
    summary: &str,
    detail: Value,
) -> Result<(), StoreError> {
    if settings.webhooks.is_empty() {
        return Ok(());
    }
    let url = change_url(settings, row.id);
    for webhook in &settings.webhooks {
        let body = match webhook.format {
            WebhookFormat::Json => json!({
                "event": event,
                "summary": summary,
                "at": now,
                "change": {
                    "id": row.id,
                    "url": url,
                    "repository": row.repository,
                    "environment": row.environment,
                    "fingerprint": row.fingerprint,
                    "head": row.head,
                    "requester": row.requester,
                    "verdict": row.verdict,
                },
                "detail": detail,
            }),
            WebhookFormat::Slack => json!({
                "text": format!(
                    "<{url}|{} change {}> {}",
                    slack_escape(&row.repository),
                    row.id,
                    slack_escape(summary)
                ),
            }),
        };
        tx.enqueue_delivery(&webhook.url, webhook.format.as_str(), event, &body.to_string(), now).await?;
    }
    Ok(())
}

/// Slack's three control characters in message text.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i64 = 12;

/// How long a claimed delivery is kept from other nodes while it is being sent.
const LEASE: Duration = Duration::from_secs(60);

/// When to try again after `attempts` failures: the base doubled each time, at most an hour.
fn retry_at(settings: &Settings, now: i64, attempts: i64) -> Option<i64> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let base = i64::try_from(settings.retry_base.as_millis()).unwrap_or(i64::MAX);
    let wait = base.saturating_mul(1i64 << (attempts - 1).clamp(0, 30)).min(3_600_000);
    Some(now + wait)
}

/// Sends due deliveries every `deliver_every`.
pub fn spawn_deliverer<S: Store>(state: Arc<AppState<S>>) {
    if state.settings.webhooks.is_empty() {
        return;
    }
    let every = state.settings.deliver_every.max(Duration::from_millis(50));
    tokio::spawn(async move {
        let agent = agent();
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(error) = deliver_due(&state, &agent).await {
                crate::writer::tracing_warn(&format!("webhook deliveries: {error}"));
            }
        }
    });
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

async fn deliver_due<S: Store>(state: &AppState<S>, agent: &ureq::Agent) -> Result<(), StoreError> {
    let now = now_millis();
    let lease = i64::try_from(LEASE.as_millis()).unwrap_or(60_000);
    let mut tx = state.store.begin().await?;
    let due = tx.claim_deliveries(now, now + lease, 32).await?;
    tx.commit().await?;
    for delivery in due {
        let agent = agent.clone();
        let attempts = delivery.attempts + 1;
        let sent = tokio::task::spawn_blocking(move || {
            send(&agent, &delivery).map(|()| delivery.id).map_err(|e| (delivery.id, e))
        })
        .await
        .map_err(|error| StoreError::Invalid(format!("the delivery task stopped: {error}")))?;
        let at = now_millis();
        let mut tx = state.store.begin().await?;
        match sent {
            Ok(id) => {
                tx.delivery_done(id, attempts, at).await?;
                metrics::counter!(crate::metrics_names::DELIVERIES, "outcome" => "delivered").increment(1);
            }
            Err((id, error)) => {
                let next = retry_at(&state.settings, at, attempts);
                tx.delivery_failed(id, attempts, next, &error, at).await?;
                let outcome = if next.is_some() { "retry" } else { "failed" };
                metrics::counter!(crate::metrics_names::DELIVERIES, "outcome" => outcome).increment(1);
            }
        }
        tx.commit().await?;
    }
    Ok(())
}

/// One POST; any answer but 2xx is a failure to retry.
fn send(agent: &ureq::Agent, delivery: &DeliveryRow) -> Result<(), String> {
    let response = agent
        .post(&delivery.url)
        .header("Content-Type", "application/json")
        .header("User-Agent", concat!("countersign/", env!("CARGO_PKG_VERSION")))
        .header("X-Countersign-Event", &delivery.event)
        .header("X-Countersign-Delivery", &delivery.id.to_string())
        .send(delivery.body.as_bytes())
        .map_err(|error| error.to_string())?;
    let status = response.status();
    if status.is_success() { Ok(()) } else { Err(format!("the receiver answered {status}")) }
}
