//! The likes gallery (seed 000): images with like buttons that act for the signed-in
//! user through widget actions; likes persist per user in the app's store.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use widgetry::app::{Action, AppBuilder, Reply, Tool, Widget};
use widgetry::store::{KvStore, Namespace};
use widgetry::{Auth, RequestContext, ToolError};

static NS: Namespace = Namespace::from_static("showcase.likes");

/// The images of the gallery: (id, title).
pub const IMAGES: &[(&str, &str)] = &[
    ("sunrise", "Sunrise"),
    ("harbor", "Harbor"),
    ("meadow", "Meadow"),
    ("dunes", "Dunes"),
    ("glacier", "Glacier"),
    ("orchard", "Orchard"),
];

/// Likes, stored per user.
#[derive(Clone)]
pub struct Likes {
    kv: Arc<dyn KvStore>,
}

fn store_err(e: impl std::fmt::Display) -> ToolError {
    ToolError::msg(format!("the likes store is unavailable: {e}"))
}

impl Likes {
    /// Likes kept in `kv`.
    pub fn new(kv: Arc<dyn KvStore>) -> Self {
        Self { kv }
    }

    async fn count(&self, image: &str) -> Result<u64, ToolError> {
        let v = self
            .kv
            .get(&NS, &format!("count:{image}"))
            .await
            .map_err(store_err)?;
        Ok(v.and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
            .max(0) as u64)
    }

    async fn liked(&self, user: &str, image: &str) -> Result<bool, ToolError> {
        Ok(self
            .kv
            .get(&NS, &format!("user:{user}:{image}"))
            .await
            .map_err(store_err)?
            .is_some())
    }

    /// Likes `image` for `user` (idempotent); returns the new count.
    pub async fn like(&self, user: &str, image: &str) -> Result<u64, ToolError> {
        let fresh = self
            .kv
            .put_if_absent(&NS, &format!("user:{user}:{image}"), b"1", None)
            .await
            .map_err(store_err)?;
        if fresh {
            self.kv
                .incr(&NS, &format!("count:{image}"), 1, None)
                .await
                .map_err(store_err)?;
        }
        self.count(image).await
    }

    /// Removes `user`'s like of `image` (idempotent); returns the new count.
    pub async fn unlike(&self, user: &str, image: &str) -> Result<u64, ToolError> {
        let removed = self
            .kv
            .delete(&NS, &format!("user:{user}:{image}"))
            .await
            .map_err(store_err)?;
        if removed {
            self.kv
                .incr(&NS, &format!("count:{image}"), -1, None)
                .await
                .map_err(store_err)?;
        }
        self.count(image).await
    }
}

/// Which image to like or unlike.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ImageInput {
    /// The image id, e.g. `sunrise`.
    pub image_id: String,
}

/// An image's likes after an action.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LikeState {
    image_id: String,
    likes: u64,
    liked: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
struct GalleryImage {
    id: String,
    title: String,
    likes: u64,
    liked: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Viewer {
    #[serde(rename = "signedIn")]
    signed_in: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct GalleryView {
    images: Vec<GalleryImage>,
    viewer: Viewer,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct GalleryInput {}

fn check_image(id: &str) -> Result<&'static str, ToolError> {
    IMAGES
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(i, _)| *i)
        .ok_or_else(|| {
            ToolError::invalid_params(format!(
                "field `image_id`: unknown image {id:?}; one of {}",
                IMAGES.iter().map(|i| i.0).collect::<Vec<_>>().join(", ")
            ))
        })
}

fn subject(ctx: &RequestContext) -> Result<String, ToolError> {
    ctx.user()
        .map(|u| u.subject.clone())
        .ok_or_else(|| ToolError::msg("sign in to like images"))
}

/// Adds the gallery widget, its tool and the like/unlike actions.
pub fn add(b: AppBuilder, likes: Likes) -> AppBuilder {
    let (l1, l2, l3) = (likes.clone(), likes.clone(), likes);
    b.widget(
        Widget::new(crate::widgets::GALLERY)
            .description("An image gallery with like buttons")
            .prefers_border(true),
    )
    .tool(
        Tool::new(
            "show_gallery",
            move |ctx: RequestContext, _: GalleryInput| {
                let likes = l1.clone();
                async move {
                    let user = ctx.user().cloned();
                    let mut images = Vec::new();
                    for (id, title) in IMAGES {
                        let liked = match &user {
                            Some(u) => likes.liked(&u.subject, id).await?,
                            None => false,
                        };
                        images.push(GalleryImage {
                            id: id.to_string(),
                            title: title.to_string(),
                            likes: likes.count(id).await?,
                            liked,
                        });
                    }
                    let n: u64 = images.iter().map(|i| i.likes).sum();
                    let viewer = Viewer {
                        signed_in: user.is_some(),
                        name: user
                            .as_ref()
                            .map(|u| u.name().unwrap_or(&u.subject).to_string()),
                    };
                    Ok::<_, ToolError>(
                        Reply::new(GalleryView { images, viewer })
                            .text(format!("{} images, {n} likes in all.", IMAGES.len())),
                    )
                }
            },
        )
        .title("Show the gallery")
        .description("Shows the image gallery; signed-in users can like images.")
        .read_only()
        .invoking("Opening the gallery…")
        .invoked("Gallery ready")
        .auth(Auth::optional(["likes:write"]))
        .widget(crate::widgets::GALLERY)
        .widget_actions(["like_image", "unlike_image"]),
    )
    .action(
        Action::new("like_image", move |ctx: RequestContext, i: ImageInput| {
            let likes = l2.clone();
            async move {
                let image = check_image(&i.image_id)?;
                let likes = likes.like(&subject(&ctx)?, image).await?;
                Ok::<_, ToolError>(LikeState {
                    image_id: image.into(),
                    likes,
                    liked: true,
                })
            }
        })
        .title("Like an image")
        .description("Likes an image of the gallery for the signed-in user.")
        .idempotent()
        .auth(Auth::required(["likes:write"])),
    )
    .action(
        Action::new("unlike_image", move |ctx: RequestContext, i: ImageInput| {
            let likes = l3.clone();
            async move {
                let image = check_image(&i.image_id)?;
                let likes = likes.unlike(&subject(&ctx)?, image).await?;
                Ok::<_, ToolError>(LikeState {
                    image_id: image.into(),
                    likes,
                    liked: false,
                })
            }
        })
        .title("Unlike an image")
        .description("Removes the signed-in user's like from an image.")
        .idempotent()
        .auth(Auth::required(["likes:write"])),
    )
}
