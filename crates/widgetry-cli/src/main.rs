//! The `widgetry` command (in progress).
fn main() {
    eprintln!("widgetry: not built yet");
    std::process::exit(2);
}
