//! Bundles every folder under `widgets/` into one self-contained HTML document and
//! embeds it in the binary (`widgetry::embed_widgets!()` in `src/main.rs`), and names each
//! widget with a constant (`widgetry::widget_names!()`: `widgets::WELCOME`).
fn main() {
    if let Err(e) = widgetry_bundle::build_script("widgets") {
        panic!("widget build failed: {e}");
    }
}
