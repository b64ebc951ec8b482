//! Bundles `widgets/*` into self-contained HTML embedded in the binary.
fn main() {
    if let Err(e) = widgetry_bundle::build_script("widgets") {
        panic!("widget build failed: {e}");
    }
}
