//! Bundles every folder under `widgets/` into one self-contained HTML document and
//! embeds it in the binary (`widgetry::embed_widgets!()` in `src/main.rs`).
fn main() {
    if let Err(e) = widgetry_bundle::build_script("widgets") {
        panic!("widget build failed: {e}");
    }
}
