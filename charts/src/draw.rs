//! Drawing each kind of chart onto any plotters backend, so PNG and SVG share one code path.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::font::FONT_FAMILY;
use crate::{
    BandChart, Chart, ChartError, IntervalChart, LegendPosition, LineChart, StackedAreaChart,
    palette,
};

type Area<DB> = DrawingArea<DB, Shift>;
type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;
type Plane<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

const TITLE_PX: u32 = 24;
const LABEL_PX: u32 = 15;
const AXIS_DESC_PX: u32 = 17;
const NO_DATA: &str = "no data in this run";

pub(crate) fn draw<DB: DrawingBackend>(chart: &Chart, root: &Area<DB>) -> Result<(), ChartError> {
    let outcome = root.fill(&WHITE).and_then(|()| match chart {
        Chart::Line(line) => draw_line(line, root),
        Chart::StackedArea(stacked) => draw_stacked(stacked, root),
        Chart::Intervals(intervals) => draw_intervals(intervals, root),
        Chart::Band(band) => draw_band(band, root),
    });
    outcome.map_err(|err| ChartError::Draw {
        title: chart.title().to_owned(),
        message: err.to_string(),
    })
}

fn draw_line<DB: DrawingBackend>(chart: &LineChart, root: &Area<DB>) -> DrawResult<DB> {
    let all_points = chart.series.iter().flat_map(|series| series.points.iter().copied());
    let legend_rows = rows_above(chart.legend, chart.series.len());
    let (x_range, y_range) = fit_ranges(all_points, chart.x_range, chart.y_range, legend_rows);
    let mut plane = plane(root, &chart.title, x_range, y_range)?;
    draw_mesh(&mut plane, &chart.x_label, &chart.y_label)?;

    for series in &chart.series {
        let color = palette(series.style.color);
        let points = if chart.step { as_steps(&series.points) } else { series.points.clone() };
        let style = color.stroke_width(2);
        let dashed = series.style.dashed;
        let annotation = if dashed {
            plane.draw_series(DashedLineSeries::new(points, 9, 5, style))?
        } else {
            plane.draw_series(LineSeries::new(points, style))?
        };
        annotation
            .label(series.label.as_str())
            .legend(move |(x, y)| legend_line(x, y, color, dashed));
    }

    if chart.series.iter().all(|series| series.points.is_empty()) {
        draw_no_data(root)?;
    }
    if !chart.series.is_empty() {
        draw_legend(&mut plane, chart.legend)?;
    }
    Ok(())
}

fn draw_stacked<DB: DrawingBackend>(chart: &StackedAreaChart, root: &Area<DB>) -> DrawResult<DB> {
    // Running sums: the top edge of each layer.
    let mut tops: Vec<Vec<f64>> = Vec::with_capacity(chart.layers.len());
    for layer in &chart.layers {
        let below = tops.last();
        let top = (0..chart.x.len())
            .map(|at| {
                let base = below.and_then(|values| values.get(at)).copied().unwrap_or(0.0);
                base + layer.values.get(at).copied().unwrap_or(0.0).max(0.0)
            })
            .collect();
        tops.push(top);
    }

    let stacked_points =
        tops.last().into_iter().flat_map(|top| chart.x.iter().copied().zip(top.iter().copied()));
    let line_points = chart.top_line.iter().flat_map(|line| line.points.iter().copied());
    let legend_rows = chart.layers.len() + usize::from(chart.top_line.is_some());
    let (x_range, y_range) = fit_ranges(stacked_points.chain(line_points), None, None, legend_rows);
    let mut plane = plane(root, &chart.title, x_range, y_range)?;
    draw_mesh(&mut plane, &chart.x_label, &chart.y_label)?;

    // Highest edge first, so each lower layer is painted over the one above it.
    for (index, (layer, top)) in chart.layers.iter().zip(&tops).enumerate().rev() {
        let color = palette(index);
        let points: Vec<(f64, f64)> = chart.x.iter().copied().zip(top.iter().copied()).collect();
        plane
            .draw_series(
                AreaSeries::new(points, 0.0, color.mix(0.8).filled())
                    .border_style(color.stroke_width(1)),
            )?
            .label(layer.label.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], color.filled()));
    }

    if let Some(line) = &chart.top_line {
        plane
            .draw_series(LineSeries::new(as_steps(&line.points), BLACK.stroke_width(2)))?
            .label(line.label.as_str())
            .legend(|(x, y)| legend_line(x, y, BLACK, false));
    }

    if chart.x.is_empty() || chart.layers.is_empty() {
        draw_no_data(root)?;
    }
    if !chart.layers.is_empty() || chart.top_line.is_some() {
        draw_legend(&mut plane, LegendPosition::UpperRight)?;
    }
    Ok(())
}

fn draw_intervals<DB: DrawingBackend>(chart: &IntervalChart, root: &Area<DB>) -> DrawResult<DB> {
    let lane_count = i32::try_from(chart.lanes.len()).unwrap_or(i32::MAX).max(1);
    let all_ends =
        chart.lanes.iter().flat_map(|lane| lane.intervals.iter().flat_map(|&(a, b)| [a, b]));
    let x_range = chart.x_range.unwrap_or_else(|| span(all_ends).unwrap_or((0.0, 1.0)));
    let x_range = widen(x_range);

    let longest_label = chart.lanes.iter().map(|lane| lane.label.chars().count()).max();
    let label_area = (longest_label.unwrap_or(4) as u32 * 9 + 24).clamp(60, 320);

    let mut builder = ChartBuilder::on(root);
    builder
        .caption(chart.title.as_str(), (FONT_FAMILY, TITLE_PX))
        .margin(16)
        .x_label_area_size(52)
        .y_label_area_size(label_area);
    let rows = f64::from(lane_count);
    let mut plane = builder.build_cartesian_2d(x_range.0..x_range.1, 0.0..rows)?;
    plane
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(RGBColor(244, 244, 244))
        .x_labels(10)
        .y_labels(0)
        .x_label_formatter(&|value| tick(*value))
        .x_desc(chart.x_label.as_str())
        .label_style((FONT_FAMILY, LABEL_PX))
        .axis_desc_style((FONT_FAMILY, AXIS_DESC_PX))
        .draw()?;

    // Lane 0 at the top. Lane labels are drawn by hand, right-aligned against the y axis, since
    // plotters' category axes cannot label a single lane.
    let label_style = TextStyle::from((FONT_FAMILY, LABEL_PX).into_font())
        .pos(Pos::new(HPos::Right, VPos::Center));
    for (lane_index, lane) in chart.lanes.iter().enumerate() {
        let bottom = rows - 1.0 - lane_index as f64;
        let color = palette(lane_index);
        plane.draw_series(lane.intervals.iter().map(|&(from, to)| {
            Rectangle::new([(from, bottom + 0.15), (to, bottom + 0.85)], color.mix(0.85).filled())
        }))?;

        let (axis_x, center_y) = plane.backend_coord(&(x_range.0, bottom + 0.5));
        root.draw(&Text::new(lane.label.clone(), (axis_x - 8, center_y), label_style.clone()))?;
    }

    if chart.lanes.iter().all(|lane| lane.intervals.is_empty()) {
        draw_no_data(root)?;
    }
    Ok(())
}

fn draw_band<DB: DrawingBackend>(chart: &BandChart, root: &Area<DB>) -> DrawResult<DB> {
    let band_points = chart.series.iter().flat_map(|series| {
        series.points.iter().flat_map(|&(x, low, _, high)| [(x, low), (x, high)])
    });
    let threshold_points = chart.threshold.iter().map(|(_, y)| (f64::NAN, *y));
    let legend_rows = chart.series.len() + usize::from(chart.threshold.is_some());
    let (x_range, y_range) =
        fit_ranges(band_points.chain(threshold_points), None, None, legend_rows);
    let x_range = if chart.integer_x { (x_range.0 - 0.5, x_range.1 + 0.5) } else { x_range };
    let mut plane = plane(root, &chart.title, x_range, y_range)?;
    if chart.integer_x {
        draw_mesh_with(&mut plane, &chart.x_label, &chart.y_label, &|value| {
            if value.fract() == 0.0 { tick(*value) } else { String::new() }
        })?;
    } else {
        draw_mesh(&mut plane, &chart.x_label, &chart.y_label)?;
    }

    for series in &chart.series {
        let color = palette(series.color);
        let mut outline: Vec<(f64, f64)> =
            series.points.iter().map(|&(x, low, _, _)| (x, low)).collect();
        outline.extend(series.points.iter().rev().map(|&(x, _, _, high)| (x, high)));
        plane.draw_series(std::iter::once(Polygon::new(outline, color.mix(0.2).filled())))?;

        let middle: Vec<(f64, f64)> =
            series.points.iter().map(|&(x, _, mid, _)| (x, mid)).collect();
        plane
            .draw_series(LineSeries::new(middle.clone(), color.stroke_width(2)))?
            .label(series.label.as_str())
            .legend(move |(x, y)| legend_line(x, y, color, false));
        plane.draw_series(middle.into_iter().map(|at| Circle::new(at, 4, color.filled())))?;
    }

    if let Some((label, y)) = &chart.threshold {
        let red = RGBColor(200, 30, 30);
        let across = vec![(x_range.0, *y), (x_range.1, *y)];
        plane
            .draw_series(DashedLineSeries::new(across, 10, 6, red.stroke_width(2)))?
            .label(label.as_str())
            .legend(move |(x, y)| legend_line(x, y, red, true));
    }

    if chart.series.iter().all(|series| series.points.is_empty()) {
        draw_no_data(root)?;
    }
    draw_legend(&mut plane, LegendPosition::UpperRight)?;
    Ok(())
}

/// A titled cartesian plane over the given ranges.
fn plane<'a, DB: DrawingBackend>(
    root: &'a Area<DB>,
    title: &str,
    x_range: (f64, f64),
    y_range: (f64, f64),
) -> Result<Plane<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, (FONT_FAMILY, TITLE_PX))
        .margin(16)
        .x_label_area_size(52)
        .y_label_area_size(78);
    builder.build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)
}

fn draw_mesh<'a, DB: DrawingBackend + 'a>(
    plane: &mut Plane<'a, DB>,
    x: &str,
    y: &str,
) -> DrawResult<DB> {
    draw_mesh_with(plane, x, y, &|value| tick(*value))
}

fn draw_mesh_with<'a, DB: DrawingBackend + 'a>(
    plane: &mut Plane<'a, DB>,
    x: &str,
    y: &str,
    x_tick: &dyn Fn(&f64) -> String,
) -> DrawResult<DB> {
    plane
        .configure_mesh()
        .light_line_style(RGBColor(244, 244, 244))
        .bold_line_style(RGBColor(210, 210, 210))
        .x_labels(10)
        .y_labels(8)
        .x_label_formatter(x_tick)
        .y_label_formatter(&|value| tick(*value))
        .x_desc(x)
        .y_desc(y)
        .label_style((FONT_FAMILY, LABEL_PX))
        .axis_desc_style((FONT_FAMILY, AXIS_DESC_PX))
        .draw()
}

fn draw_legend<'a, DB: DrawingBackend + 'a>(
    plane: &mut Plane<'a, DB>,
    at: LegendPosition,
) -> DrawResult<DB> {
    let position = match at {
        LegendPosition::UpperLeft => SeriesLabelPosition::UpperLeft,
        LegendPosition::UpperRight => SeriesLabelPosition::UpperRight,
        LegendPosition::LowerLeft => SeriesLabelPosition::LowerLeft,
        LegendPosition::LowerRight => SeriesLabelPosition::LowerRight,
    };
    plane
        .configure_series_labels()
        .position(position)
        .margin(10)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .label_font((FONT_FAMILY, LABEL_PX))
        .draw()
}

fn draw_no_data<DB: DrawingBackend>(root: &Area<DB>) -> DrawResult<DB> {
    let (width, height) = root.dim_in_pixel();
    let style = TextStyle::from((FONT_FAMILY, 20).into_font()).color(&RGBColor(120, 120, 120));
    let x = i32::try_from(width / 2).unwrap_or(0) - 90;
    let y = i32::try_from(height / 2).unwrap_or(0);
    root.draw(&Text::new(NO_DATA, (x, y), style))
}

/// A short line with the series' colour, for the legend.
fn legend_line(x: i32, y: i32, color: RGBColor, dashed: bool) -> PathElement<(i32, i32)> {
    let points = if dashed {
        vec![(x, y), (x + 7, y), (x + 7, y), (x + 13, y)]
    } else {
        vec![(x, y), (x + 20, y)]
    };
    PathElement::new(points, color.stroke_width(3))
}

/// Turns `(x, y)` points into the corners of a step function: each y holds until the next x.
fn as_steps(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut steps = Vec::with_capacity(points.len() * 2);
    for pair in points.windows(2) {
        let ((x0, y0), (x1, _)) = (pair[0], pair[1]);
        steps.push((x0, y0));
        steps.push((x1, y0));
    }
    if let Some(&last) = points.last() {
        steps.push(last);
    }
    steps
}

/// Axis ranges that hold every finite point: y from zero (or below, for negative data), with
/// room above the data for `legend_rows` rows of a legend in an upper corner.
fn fit_ranges(
    points: impl Iterator<Item = (f64, f64)>,
    x_fixed: Option<(f64, f64)>,
    y_fixed: Option<(f64, f64)>,
    legend_rows: usize,
) -> ((f64, f64), (f64, f64)) {
    let points: Vec<(f64, f64)> = points.collect();
    let x_range =
        x_fixed.unwrap_or_else(|| span(points.iter().map(|&(x, _)| x)).unwrap_or((0.0, 1.0)));
    let y_range = y_fixed.unwrap_or_else(|| {
        let (low, high) = span(points.iter().map(|&(_, y)| y)).unwrap_or((0.0, 1.0));
        let low = low.min(0.0);
        let room = 0.06 + 0.08 * legend_rows as f64;
        (low, high + (high - low).abs() * room)
    });
    (widen(x_range), widen(y_range))
}

/// Legend rows that need room above the data: those of a legend in an upper corner.
fn rows_above(position: LegendPosition, rows: usize) -> usize {
    match position {
        LegendPosition::UpperLeft | LegendPosition::UpperRight => rows,
        LegendPosition::LowerLeft | LegendPosition::LowerRight => 0,
    }
}

/// The smallest and largest finite value, if any.
fn span(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.filter(|value| value.is_finite()).fold(None, |range, value| match range {
        None => Some((value, value)),
        Some((low, high)) => Some((low.min(value), high.max(value))),
    })
}

/// A range plotters can draw: finite and not empty. A flat range at zero becomes `0..1`.
fn widen((low, high): (f64, f64)) -> (f64, f64) {
    if !low.is_finite() || !high.is_finite() {
        (0.0, 1.0)
    } else if high > low {
        (low, high)
    } else if low == 0.0 {
        (0.0, 1.0)
    } else {
        (low - 0.5, low + 0.5)
    }
}

/// An axis tick label: integers without decimals, small numbers with up to two.
fn tick(value: f64) -> String {
    let magnitude = value.abs();
    let text = if magnitude >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_hold_each_value_until_the_next_point() {
        let steps = as_steps(&[(0.0, 1.0), (2.0, 3.0), (5.0, 0.0)]);
        assert_eq!(steps, vec![(0.0, 1.0), (2.0, 1.0), (2.0, 3.0), (5.0, 3.0), (5.0, 0.0)]);
    }

    #[test]
    fn ticks_drop_needless_decimals() {
        assert_eq!(tick(3.0), "3");
        assert_eq!(tick(0.25), "0.25");
        assert_eq!(tick(12.5), "12.5");
        assert_eq!(tick(1234.4), "1234");
        assert_eq!(tick(-0.5), "-0.5");
    }

    #[test]
    fn empty_or_flat_ranges_are_widened() {
        assert_eq!(widen((0.0, 0.0)), (0.0, 1.0));
        assert_eq!(widen((3.0, 3.0)), (2.5, 3.5));
        assert_eq!(widen((f64::NAN, 1.0)), (0.0, 1.0));
    }
}
