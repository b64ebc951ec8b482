//! `show_ideas`: a list of ideas with like buttons. Anyone may look (`Auth::optional`);
//! liking acts for the signed-in user through widget actions: the widget calls
//! `like_idea` / `unlike_idea` directly with a short-lived widget token (falling back to
//! the host's `callTool`), and the model can call the same actions as tools ("I like the
//! second idea"). Likes persist per user in the app's key-value store.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use widgetry::app::{Action, AppBuilder, Reply, Tool, Widget};
use widgetry::store::Namespace;
use widgetry::{Auth, RequestContext, ToolError};

use super::Shared;
use crate::widgets;

/// The scope liking needs.
pub const LIKE_SCOPE: &str = "ideas:like";

static NS: Namespace = Namespace::from_static("ideas.likes");

/// The ideas: (id, title, pitch).
const IDEAS: &[(&str, &str, &str)] = &[
    (
        "dark-mode",
        "Dark mode everywhere",
        "Follow the host theme in every widget",
    ),
    (
        "offline",
        "Offline drafts",
        "Keep unsent changes in widget state",
    ),
    (
        "share",
        "Share a view",
        "A link that reopens the widget as it is now",
    ),
    ("shortcuts", "Keyboard shortcuts", "j/k to move, l to like"),
];

/// `show_ideas` takes no arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ShowInput {}

/// One idea as the widget shows it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Idea {
    /// Stable id (what the like actions take).
    pub id: String,
    /// Title.
    pub title: String,
    /// One line about it.
    pub pitch: String,
    /// Likes from everyone.
    pub likes: u64,
    /// Whether the caller likes it.
    pub liked: bool,
}

/// What `show_ideas` returns.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Ideas {
    /// The ideas.
    pub ideas: Vec<Idea>,
    /// Whether the caller is signed in (liking needs it).
    #[serde(rename = "signedIn")]
    pub signed_in: bool,
}

/// Which idea to like or unlike.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct IdeaInput {
    /// The idea id, e.g. `dark-mode`.
    pub idea_id: String,
}

/// An idea's likes after an action.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LikeState {
    /// The idea.
    pub idea_id: String,
    /// Likes from everyone.
    pub likes: u64,
    /// Whether the caller likes it now.
    pub liked: bool,
}

fn store_err(e: impl std::fmt::Display) -> ToolError {
    ToolError::msg(format!("the likes store is unavailable: {e}"))
}

async fn count(shared: &Shared, idea: &str) -> Result<u64, ToolError> {
    let v = shared
        .kv
        .get(&NS, &format!("count:{idea}"))
        .await
        .map_err(store_err)?;
    Ok(v.and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0)
        .max(0) as u64)
}

async fn liked(shared: &Shared, user: &str, idea: &str) -> Result<bool, ToolError> {
    Ok(shared
        .kv
        .get(&NS, &format!("user:{user}:{idea}"))
        .await
        .map_err(store_err)?
        .is_some())
}

fn check_idea(id: &str) -> Result<&'static str, ToolError> {
    IDEAS
        .iter()
        .find(|(i, ..)| *i == id)
        .map(|(i, ..)| *i)
        .ok_or_else(|| {
            let known: Vec<&str> = IDEAS.iter().map(|i| i.0).collect();
            ToolError::invalid_params(format!(
                "field `idea_id`: unknown idea {id:?}; one of {}",
                known.join(", ")
            ))
        })
}

fn subject(ctx: &RequestContext) -> Result<String, ToolError> {
    ctx.user()
        .map(|u| u.subject.clone())
        .ok_or_else(|| ToolError::msg("sign in to like ideas"))
}

async fn show(shared: Shared, ctx: RequestContext) -> Result<Reply<Ideas>, ToolError> {
    let user = ctx.user().map(|u| u.subject.clone());
    let mut ideas = Vec::new();
    for (id, title, pitch) in IDEAS {
        ideas.push(Idea {
            id: id.to_string(),
            title: title.to_string(),
            pitch: pitch.to_string(),
            likes: count(&shared, id).await?,
            liked: match &user {
                Some(u) => liked(&shared, u, id).await?,
                None => false,
            },
        });
    }
    let total: u64 = ideas.iter().map(|i| i.likes).sum();
    let text = format!("{} ideas, {total} likes in all.", ideas.len());
    Ok(Reply::new(Ideas {
        ideas,
        signed_in: user.is_some(),
    })
    .text(text))
}

async fn set_like(
    shared: Shared,
    ctx: RequestContext,
    input: IdeaInput,
    like: bool,
) -> Result<LikeState, ToolError> {
    let idea = check_idea(&input.idea_id)?;
    let user = subject(&ctx)?;
    let key = format!("user:{user}:{idea}");
    let changed = if like {
        shared
            .kv
            .put_if_absent(&NS, &key, b"1", None)
            .await
            .map_err(store_err)?
    } else {
        shared.kv.delete(&NS, &key).await.map_err(store_err)?
    };
    if changed {
        let delta = if like { 1 } else { -1 };
        shared
            .kv
            .incr(&NS, &format!("count:{idea}"), delta, None)
            .await
            .map_err(store_err)?;
    }
    Ok(LikeState {
        idea_id: idea.into(),
        likes: count(&shared, idea).await?,
        liked: like,
    })
}

/// Adds the widget, `show_ideas` and the two like actions.
pub fn register(b: AppBuilder, shared: &Shared) -> AppBuilder {
    let (s1, s2, s3) = (shared.clone(), shared.clone(), shared.clone());
    b.widget(
        Widget::new(widgets::IDEAS)
            .description("Ideas with like buttons")
            .prefers_border(true),
    )
    .tool(
        Tool::new("show_ideas", move |ctx: RequestContext, _: ShowInput| {
            show(s1.clone(), ctx)
        })
        .title("Show the ideas")
        .description("Shows the ideas with their likes; signed-in users can like them.")
        .read_only()
        .invoking("Loading ideas…")
        .invoked("Ideas ready")
        .auth(Auth::optional([LIKE_SCOPE]))
        .widget(widgets::IDEAS)
        .widget_actions(["like_idea", "unlike_idea"]),
    )
    .action(
        Action::new("like_idea", move |ctx: RequestContext, i: IdeaInput| {
            set_like(s2.clone(), ctx, i, true)
        })
        .title("Like an idea")
        .description("Likes an idea for the signed-in user.")
        .idempotent()
        .auth(Auth::required([LIKE_SCOPE])),
    )
    .action(
        Action::new("unlike_idea", move |ctx: RequestContext, i: IdeaInput| {
            set_like(s3.clone(), ctx, i, false)
        })
        .title("Unlike an idea")
        .description("Removes the signed-in user's like from an idea.")
        .idempotent()
        .auth(Auth::required([LIKE_SCOPE])),
    )
}
