//! The sign-in widget's limits: the shared guess throttle of the authorization server
//! ([`widgetry_authz::throttle`]) over the app's key-value store, wrong answers per
//! sign-in session, and how many sessions callers may start.

use std::sync::Arc;
use std::time::Duration;

use widgetry_authz::throttle::{Counters, GuessKind, Throttle, ThrottleRules};
use widgetry_authz::{BoxFuture, StoreError, StoreResult};
use widgetry_store::{KvStore, Namespace};

static LIMITS: Namespace = Namespace::from_static("widgetry.signin.limits");

/// [`Counters`] in a [`KvStore`] (every backend's `incr` is atomic).
pub(super) struct KvCounters(pub(super) Arc<dyn KvStore>);

fn unavailable(e: widgetry_store::StoreError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl Counters for KvCounters {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<i64>>> {
        Box::pin(async move {
            Ok(self
                .0
                .get(&LIMITS, key)
                .await
                .map_err(unavailable)?
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.trim().parse().ok()))
        })
    }

    fn add<'a>(&'a self, key: &'a str, by: i64, ttl: Duration) -> BoxFuture<'a, StoreResult<i64>> {
        Box::pin(async move {
            self.0
                .incr(&LIMITS, key, by, Some(ttl))
                .await
                .map_err(unavailable)
        })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: i64,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.0
                .put(&LIMITS, key, value.to_string().as_bytes(), Some(ttl))
                .await
                .map_err(unavailable)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.0
                .delete(&LIMITS, key)
                .await
                .map(|_| ())
                .map_err(unavailable)
        })
    }
}

/// Every limit of the sign-in widget.
pub(super) struct Limits {
    counters: Arc<KvCounters>,
    pub(super) passwords: Throttle<KvCounters>,
    pub(super) second_factors: Throttle<KvCounters>,
    pub(super) email_codes: Throttle<KvCounters>,
}

impl Limits {
    pub(super) fn new(kv: Arc<dyn KvStore>, rules: &ThrottleRules) -> Self {
        let counters = Arc::new(KvCounters(kv));
        let throttle = |kind| Throttle::new(counters.clone(), rules.clone(), kind);
        Self {
            passwords: throttle(GuessKind::Password),
            second_factors: throttle(GuessKind::SecondFactor),
            email_codes: throttle(GuessKind::EmailCode),
            counters,
        }
    }

    /// Counts one answer on a sign-in session, before it is checked; the count, which is
    /// over `max` once the session is used up. Give it back with [`Limits::answer_was_right`].
    pub(super) async fn count_answer(&self, session: &str, ttl: Duration) -> StoreResult<i64> {
        self.counters
            .add(&format!("session:{session}"), 1, ttl)
            .await
    }

    /// Answers counted on a session so far.
    pub(super) async fn answers(&self, session: &str) -> StoreResult<i64> {
        Ok(self
            .counters
            .get(&format!("session:{session}"))
            .await?
            .unwrap_or(0))
    }

    /// A right answer does not use up the session.
    pub(super) async fn answer_was_right(&self, session: &str, ttl: Duration) {
        if let Err(e) = self
            .counters
            .add(&format!("session:{session}"), -1, ttl)
            .await
        {
            tracing::warn!(error = %e, "giving back a sign-in answer failed");
        }
    }

    /// Counts a new sign-in session for `caller` and for everyone; `Err` with the message
    /// when either limit is reached.
    pub(super) async fn admit_session(
        &self,
        caller: &str,
        per_caller: i64,
        per_window: i64,
        window: Duration,
    ) -> Result<(), String> {
        let mine = self
            .counters
            .add(
                &format!("created:{}", widgetry_authz::throttle::digest(&[caller])),
                1,
                window,
            )
            .await
            .map_err(|e| e.to_string())?;
        if mine > per_caller {
            return Err(format!(
                "too many sign-ins started from here (limit {per_caller} per {}); finish one or wait",
                widgetry_authz::throttle::wait_text(window)
            ));
        }
        let all = self
            .counters
            .add("created:all", 1, window)
            .await
            .map_err(|e| e.to_string())?;
        if all > per_window {
            return Err(
                "too many sign-ins are in progress right now; try again in a few minutes".into(),
            );
        }
        Ok(())
    }
}
