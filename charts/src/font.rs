//! The embedded font. plotters draws text with ab_glyph from fonts registered by name; we
//! register DejaVu Sans (vendored in `assets/`, Bitstream Vera licence) under the generic
//! `sans-serif` family once per process, before the first chart is drawn.

use std::sync::OnceLock;

use plotters::style::FontStyle;

use crate::ChartError;

/// The family every chart's text uses. SVG output names it too, so a browser picks its own
/// sans-serif font for the same text.
pub const FONT_FAMILY: &str = "sans-serif";

const DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

static REGISTERED: OnceLock<bool> = OnceLock::new();

/// Registers the font on the first call; later calls only report the first call's outcome.
pub(crate) fn ensure_registered() -> Result<(), ChartError> {
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    if ok { Ok(()) } else { Err(ChartError::Font) }
}
