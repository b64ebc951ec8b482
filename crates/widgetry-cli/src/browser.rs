//! Opening a URL in the user's browser (`xdg-open` under X11/Wayland, `open` on macOS),
//! for sign-in and for `widgetry dev --open` / `widgetry host --open`. A `BROWSER`
//! environment variable names the program to use instead, as on most Unix tools.

/// Opens `url` in the user's browser when there is one to open; never fails.
pub fn open(url: &str) -> bool {
    let chosen = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty());
    let program = if let Some(b) = &chosen {
        b.trim()
    } else if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        return false;
    } else {
        if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            return false;
        }
        "xdg-open"
    };
    match std::process::Command::new(program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(mut child) => {
            // Reap it in the background so it does not linger as a zombie.
            std::thread::spawn(move || child.wait());
            true
        }
        Err(_) => false,
    }
}
