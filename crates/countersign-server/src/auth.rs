//! Bearer tokens: `cst_<id>_<secret>`. Only the SHA-256 of the whole token is stored; the id is
//! what lists and revocations name.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use countersign_core::lifecycle::Attempt;
use countersign_store::{Store, TokenRow, token_hash};
use rand_core::RngCore;

use crate::AppState;
use crate::api::ApiError;
use crate::writer::Op;

pub const TOKEN_PREFIX: &str = "cst_";

/// A new token for `person`: the secret to hand over once, and the row to store.
pub fn new_token(person: &str, label: &str, at: i64) -> (String, TokenRow) {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 24];
    rand_core::OsRng.fill_bytes(&mut id);
    rand_core::OsRng.fill_bytes(&mut secret);
    let id = hex::encode(id);
    let token = format!("{TOKEN_PREFIX}{id}_{}", hex::encode(secret));
    let row = TokenRow {
        id,
        person: person.to_owned(),
        hash: token_hash(&token),
        label: label.to_owned(),
        created_at: at,
        revoked_at: None,
    };
    (token, row)
}

/// Who is calling, from their token.
#[derive(Clone, Debug)]
pub struct Caller {
    pub person: String,
    pub token_id: String,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// Authenticates a request. For a write (`attempt` given), a revoked token's attempt is recorded
/// in the audit log as refused before the 401 goes out.
pub async fn authenticate<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
    attempt: Option<Attempt>,
) -> Result<Caller, ApiError> {
    let Some(token) = bearer(headers) else {
        return Err(ApiError::unauthenticated(
            "this call needs a bearer token: send `Authorization: Bearer cst_…` (create one with \
             `countersign token create --person ID`)",
        ));
    };
    let hash = token_hash(token);
    if let Some(caller) = recently_live(state, &hash) {
        return Ok(caller);
    }
    let row = state.store.token(&hash).await.map_err(ApiError::store)?;
    let Some(row) = row else {
        metrics::counter!(crate::metrics_names::REFUSED, "reason" => "unknown-token").increment(1);
        return Err(ApiError::unauthenticated("the bearer token is not known to this server"));
    };
    if let Some(revoked_at) = row.revoked_at {
        if let Some(attempt) = attempt {
            let detail = serde_json::json!({
                "reason": "revoked-token",
                "token": row.id,
                "revoked_at": revoked_at,
                "attempted": attempt,
            });
            state
                .writer
                .submit(Op::Refuse {
                    actor: row.person.clone(),
                    action: attempt.refused(),
                    subject: "auth".to_owned(),
                    detail,
                })
                .await?;
        }
        metrics::counter!(crate::metrics_names::REFUSED, "reason" => "revoked-token").increment(1);
        return Err(ApiError::unauthenticated(&format!(
            "token {} of {} was revoked; ask for a new one",
            row.id, row.person
        )));
    }
    let caller = Caller { person: row.person, token_id: row.id };
    let mut live = state.live_tokens.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if live.len() >= LIVE_TOKENS {
        live.clear();
    }
    live.insert(hash, (Instant::now(), caller.clone()));
    Ok(caller)
}

/// How long a token found live is trusted without asking the database again: a revocation
/// takes effect on every node within this time.
pub const REVOCATION_DELAY: Duration = Duration::from_secs(1);

/// Live tokens remembered at most; beyond, the memory starts over.
const LIVE_TOKENS: usize = 4096;

/// Who a token stood for, if it was found live less than [`REVOCATION_DELAY`] ago.
fn recently_live<S: Store>(state: &AppState<S>, hash: &str) -> Option<Caller> {
    let live = state.live_tokens.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    live.get(hash).filter(|(seen, _)| seen.elapsed() < REVOCATION_DELAY).map(|(_, caller)| caller.clone())
}

/// Tokens found live, by hash, with when.
pub type LiveTokens = HashMap<String, (Instant, Caller)>;
