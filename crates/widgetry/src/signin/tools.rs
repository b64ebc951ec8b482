//! The three tools: `create_session`, `authenticate` (renders the widget) and
//! `auth_status`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::session::{hash, new_id, Refused, Session, Sessions};
use super::{SignIn, META_KEY};
use crate::app::Reply;
use crate::random::random_hex;
use crate::{RequestContext, ToolError};

/// The input of `authenticate` and `auth_status`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct SessionInput {
    /// The sessionId returned by create_session (all 64 characters).
    #[serde(rename = "sessionId")]
    pub(super) session_id: String,
}

/// The result of `create_session`.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct Created {
    #[serde(rename = "sessionId")]
    session_id: String,
    #[serde(rename = "expiresInSeconds")]
    expires_in_seconds: u64,
    message: String,
}

/// Where a sign-in session stands.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct Status {
    authenticated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    expired: bool,
    message: String,
}

impl Status {
    fn expired() -> Self {
        Self {
            authenticated: false,
            email: None,
            name: None,
            expired: true,
            message: "This sign-in expired or is unknown; create a new one and sign in again."
                .into(),
        }
    }

    fn of(s: &Session) -> Self {
        if s.state == "done" {
            Self {
                authenticated: true,
                email: s.email.clone(),
                name: s.name.clone(),
                expired: false,
                message: format!("Signed in as {}", s.name.clone().unwrap_or_default()),
            }
        } else {
            Self {
                authenticated: false,
                email: None,
                name: None,
                expired: false,
                message: "Not signed in yet".into(),
            }
        }
    }
}

fn refused(r: Refused) -> Result<Status, ToolError> {
    match r {
        Refused::Unknown => Ok(Status::expired()),
        Refused::OtherConversation => Err(ToolError::msg(
            "this sign-in session belongs to another conversation",
        )),
    }
}

impl SignIn {
    pub(super) fn sessions(&self) -> Sessions<'_> {
        Sessions(self.inner.kv.as_ref())
    }

    pub(super) async fn create(&self, ctx: RequestContext) -> Result<Created, ToolError> {
        let c = self.config();
        let caller = crate::transport::layers::client_key_of(ctx.caller(), ctx.extensions());
        self.inner
            .limits
            .admit_session(
                &caller,
                c.sessions_per_caller,
                c.sessions_per_window,
                c.creation_window,
            )
            .await
            .map_err(ToolError::msg)?;
        let (public, whole, secret_hash) = new_id();
        let session = Session {
            nonce_hash: String::new(),
            state: "credentials".into(),
            owner: ctx.session_id().map(str::to_string),
            secret_hash,
            subject: None,
            email: None,
            name: None,
            method: None,
            code_hash: None,
            code_expires_ms: None,
            expires_ms: widgetry_store::now_ms() + c.session_ttl.as_millis() as u64,
            nonce_issued: false,
        };
        self.sessions()
            .save(&public, &session)
            .await
            .map_err(|e| ToolError::msg(format!("cannot store the session: {e}")))?;
        Ok(Created {
            session_id: whole,
            expires_in_seconds: c.session_ttl.as_secs(),
            message: "Session created. Call the authenticate tool with this sessionId to show the sign-in widget.".into(),
        })
    }

    pub(super) async fn authenticate(
        &self,
        ctx: RequestContext,
        i: SessionInput,
    ) -> Result<Reply<Status>, ToolError> {
        let opened = self
            .sessions()
            .open(&i.session_id, ctx.session_id())
            .await
            .map_err(ToolError::msg)?;
        let (public, mut s) = match opened {
            Ok(found) => found,
            Err(r) => {
                return refused(r).map(|st| {
                    Reply::new(st)
                        .text("This sign-in session expired. Create a new one and sign in again.")
                })
            }
        };
        if s.state == "done" {
            return Ok(Reply::new(Status::of(&s)).text("Already signed in."));
        }
        let nonce = random_hex(16);
        s.nonce_hash = hash(&nonce);
        s.nonce_issued = true;
        self.sessions()
            .save(&public, &s)
            .await
            .map_err(ToolError::msg)?;
        Ok(Reply::new(Status::of(&s))
            .text("The sign-in widget is shown; the user enters their credentials and a verification code.")
            .meta(
                META_KEY,
                json!({
                    "sessionId": public,
                    "nonce": nonce,
                    "endpoint": format!("{}{}", self.config().public_url, super::endpoint::PATH),
                    "expiresAt": s.expires_ms / 1000,
                    "codeDelivery": if self.inner.sender.delivers() { "email" } else { "console" },
                    "submitTool": super::bridge::tool_name(self.config()),
                }),
            ))
    }

    pub(super) async fn status(
        &self,
        ctx: RequestContext,
        i: SessionInput,
    ) -> Result<Status, ToolError> {
        match self
            .sessions()
            .open(&i.session_id, ctx.session_id())
            .await
            .map_err(ToolError::msg)?
        {
            Ok((_, s)) => Ok(Status::of(&s)),
            Err(r) => refused(r),
        }
    }
}
