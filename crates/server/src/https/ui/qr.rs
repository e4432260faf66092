//! QR codes as inline SVG (no image request, nothing for the CSP to allow): the TOTP enrolment
//! page shows the `otpauth://` URI this way for phones to scan.

use maud::{Markup, html};
use qrcode::{Color, QrCode};
use std::fmt::Write;

/// Light modules around the code, as the QR specification asks for.
const QUIET: usize = 4;

/// `data` as an SVG QR code, or `None` if it is too long for one.
pub fn svg(data: &str, label: &str) -> Option<Markup> {
    let code = QrCode::new(data.as_bytes()).ok()?;
    let width = code.width();
    let mut d = String::new();
    for (i, c) in code.to_colors().into_iter().enumerate() {
        if c == Color::Dark {
            let _ = write!(d, "M{} {}h1v1h-1z", i % width + QUIET, i / width + QUIET);
        }
    }
    let size = width + 2 * QUIET;
    Some(html! {
        svg.qr xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (size) " " (size)} role="img" aria-label=(label)
            shape-rendering="crispEdges" {
            rect width=(size) height=(size) fill="#fff" {}
            path d=(d) fill="#000" {}
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_code_with_its_quiet_zone() {
        let data = "otpauth://totp/x?secret=ABC";
        let s = super::svg(data, "QR").map(|m| m.into_string()).unwrap_or_default();
        assert!(s.starts_with("<svg class=\"qr\""), "{s}");
        let w = qrcode::QrCode::new(data).map(|c| c.width()).unwrap_or_default() + 8;
        assert!(w > 8 && s.contains(&format!("viewBox=\"0 0 {w} {w}\"")), "{s}");
        assert!(s.contains("M4 4h1v1h-1z"), "the finder pattern starts at the quiet zone's edge");
    }
}
