//! sparkq's charts: the few kinds of picture its reports need, drawn with plotters into PNG
//! bytes or an SVG string.
//!
//! This crate knows nothing of jobs or queues. It takes a chart description made of plain
//! numbers and labels ([`Chart`]) and draws it; the reports crate decides what to plot. Four
//! kinds cover every report:
//!
//! - [`LineChart`]: lines or step functions over a shared x axis (wait-time CDFs, queue length
//!   over time, allocated resources against capacity), optionally dashed, with a legend;
//! - [`StackedAreaChart`]: layers stacked on each other with an optional line on top (usage by
//!   namespace against capacity);
//! - [`IntervalChart`]: horizontal bars on a time axis, one lane per label (head-blocked
//!   intervals);
//! - [`BandChart`]: a curve with a min/max band around it and an optional threshold line (an
//!   SLO metric against node count, with the spread over seeds).
//!
//! Text is drawn with DejaVu Sans, compiled into the binary (see `assets/`), so rendering needs
//! no system fonts and no fontconfig, and gives the same pixels on every machine.

mod draw;
mod font;

use plotters::prelude::*;

pub use font::FONT_FAMILY;

/// Width and height of a rendered chart in pixels (SVG: user units).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChartSize {
    pub width: u32,
    pub height: u32,
}

impl ChartSize {
    /// The size every report chart uses: wide enough for a time axis, readable on a laptop.
    pub const REPORT: ChartSize = ChartSize { width: 960, height: 480 };
}

impl Default for ChartSize {
    fn default() -> Self {
        ChartSize::REPORT
    }
}

/// The file format of a rendered chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Svg,
}

impl ImageFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Svg => "svg",
        }
    }
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("the embedded font could not be loaded (the vendored TTF is damaged)")]
    Font,
    #[error("drawing chart {title:?} failed: {message}")]
    Draw { title: String, message: String },
    #[error("encoding chart {title:?} as PNG failed: {source}")]
    Png {
        title: String,
        #[source]
        source: png::EncodingError,
    },
    #[error("chart size {width}x{height} is empty: both sides must be at least 1 pixel")]
    EmptySize { width: u32, height: u32 },
}

/// How one line is drawn: its colour (an index into the palette) and whether it is dashed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineStyle {
    pub color: usize,
    pub dashed: bool,
}

/// A named line through `(x, y)` points, in the order given.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub style: LineStyle,
}

/// Lines over a shared x axis.
#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Draw each series as a step function: the value at a point holds until the next point.
    pub step: bool,
    /// Fixed axis ranges; `None` fits the data (the y axis always starts at zero or below).
    pub x_range: Option<(f64, f64)>,
    pub y_range: Option<(f64, f64)>,
    pub legend: LegendPosition,
}

/// The corner of the plot that holds the legend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LegendPosition {
    UpperLeft,
    #[default]
    UpperRight,
    LowerLeft,
    LowerRight,
}

/// One layer of a stacked-area chart: a value for each x of the chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub label: String,
    pub values: Vec<f64>,
}

/// Layers stacked bottom to top over shared x values, with an optional line drawn on top
/// (such as the capacity the layers share).
#[derive(Clone, Debug, PartialEq)]
pub struct StackedAreaChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x: Vec<f64>,
    pub layers: Vec<Layer>,
    pub top_line: Option<Series>,
}

/// One lane of an interval chart: a label and the `[from, to)` intervals drawn in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Lane {
    pub label: String,
    pub intervals: Vec<(f64, f64)>,
}

/// Horizontal bars on an x axis, one lane per row, first lane at the top.
#[derive(Clone, Debug, PartialEq)]
pub struct IntervalChart {
    pub title: String,
    pub x_label: String,
    pub lanes: Vec<Lane>,
    pub x_range: Option<(f64, f64)>,
}

/// A curve with a band around it: at each x, a middle value and the lowest and highest.
#[derive(Clone, Debug, PartialEq)]
pub struct BandSeries {
    pub label: String,
    /// `(x, low, middle, high)`, ordered by x.
    pub points: Vec<(f64, f64, f64, f64)>,
    pub color: usize,
}

/// Curves with bands, and an optional horizontal threshold line (an SLO).
#[derive(Clone, Debug, PartialEq)]
pub struct BandChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<BandSeries>,
    /// A label and a y value, drawn as a dashed red line across the chart.
    pub threshold: Option<(String, f64)>,
    /// The x values are counts (such as nodes): ticks only at whole numbers, and half a step
    /// of margin on each side so the end points are not cut.
    pub integer_x: bool,
}

/// Any chart this crate draws.
#[derive(Clone, Debug, PartialEq)]
pub enum Chart {
    Line(LineChart),
    StackedArea(StackedAreaChart),
    Intervals(IntervalChart),
    Band(BandChart),
}

impl Chart {
    pub fn title(&self) -> &str {
        match self {
            Chart::Line(chart) => &chart.title,
            Chart::StackedArea(chart) => &chart.title,
            Chart::Intervals(chart) => &chart.title,
            Chart::Band(chart) => &chart.title,
        }
    }

    /// Renders the chart as PNG bytes (8-bit RGB).
    pub fn to_png(&self, size: ChartSize) -> Result<Vec<u8>, ChartError> {
        check_size(size)?;
        font::ensure_registered()?;

        let (width, height) = (size.width as usize, size.height as usize);
        let mut pixels = vec![0u8; width * height * 3];
        {
            let root = BitMapBackend::with_buffer(&mut pixels, (size.width, size.height))
                .into_drawing_area();
            draw::draw(self, &root)?;
            root.present().map_err(|err| self.draw_error(err))?;
        }

        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, size.width, size.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let png_error = |source| ChartError::Png { title: self.title().to_owned(), source };
        let mut writer = encoder.write_header().map_err(png_error)?;
        writer.write_image_data(&pixels).map_err(png_error)?;
        writer.finish().map_err(png_error)?;
        Ok(bytes)
    }

    /// Renders the chart as an SVG document. Text stays text, set in the sans-serif family.
    pub fn to_svg(&self, size: ChartSize) -> Result<String, ChartError> {
        check_size(size)?;
        font::ensure_registered()?;

        let mut svg = String::new();
        {
            let root =
                SVGBackend::with_string(&mut svg, (size.width, size.height)).into_drawing_area();
            draw::draw(self, &root)?;
            root.present().map_err(|err| self.draw_error(err))?;
        }
        Ok(svg)
    }

    /// Renders in the given format, as bytes ready to write to a file.
    pub fn render(&self, format: ImageFormat, size: ChartSize) -> Result<Vec<u8>, ChartError> {
        match format {
            ImageFormat::Png => self.to_png(size),
            ImageFormat::Svg => self.to_svg(size).map(String::into_bytes),
        }
    }

    fn draw_error(&self, err: impl std::fmt::Display) -> ChartError {
        ChartError::Draw { title: self.title().to_owned(), message: err.to_string() }
    }
}

fn check_size(size: ChartSize) -> Result<(), ChartError> {
    if size.width == 0 || size.height == 0 {
        return Err(ChartError::EmptySize { width: size.width, height: size.height });
    }
    Ok(())
}

/// The palette, chosen to stay distinguishable for the common forms of colour blindness
/// (Okabe and Ito's eight colours, black last since axes are black).
const PALETTE: [RGBColor; 8] = [
    RGBColor(213, 94, 0),
    RGBColor(0, 114, 178),
    RGBColor(0, 158, 115),
    RGBColor(230, 159, 0),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(240, 228, 66),
    RGBColor(80, 80, 80),
];

/// The colour at a palette index, wrapping around.
pub fn palette(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}
