//! Every kind of chart renders to a PNG that decodes at the requested size and is not blank,
//! and to an SVG that carries its title as text. The PNGs are also left in Cargo's test
//! scratch directory (`target/tmp/charts/`) for a person to look at.

use std::path::PathBuf;

use sparkq_charts::{
    BandChart, BandSeries, Chart, ChartError, ChartSize, ImageFormat, IntervalChart, Lane, Layer,
    LegendPosition, LineChart, LineStyle, Series, StackedAreaChart,
};

fn wait_cdf() -> Chart {
    let curve = |scale: f64| -> Vec<(f64, f64)> {
        (0..=40).map(|i| (f64::from(i) * scale / 4.0, f64::from(i) / 40.0)).collect()
    };
    Chart::Line(LineChart {
        title: "Wait time CDF by priority".into(),
        x_label: "wait (min)".into(),
        y_label: "fraction of admitted jobs".into(),
        series: vec![
            Series { label: "high".into(), points: curve(0.5), style: LineStyle::default() },
            Series {
                label: "normal".into(),
                points: curve(2.0),
                style: LineStyle { color: 1, dashed: true },
            },
        ],
        step: true,
        x_range: None,
        y_range: Some((0.0, 1.0)),
        legend: LegendPosition::LowerRight,
    })
}

fn usage_stacked() -> Chart {
    let x: Vec<f64> = (0..100).map(f64::from).collect();
    let wave = |phase: f64| x.iter().map(|t| 20.0 + 10.0 * ((t / 10.0) + phase).sin()).collect();
    Chart::StackedArea(StackedAreaChart {
        title: "CPU requested by namespace".into(),
        x_label: "time (h)".into(),
        y_label: "cores".into(),
        x: x.clone(),
        layers: vec![
            Layer { label: "analytics".into(), values: wave(0.0) },
            Layer { label: "etl".into(), values: wave(2.0) },
            Layer { label: "ml".into(), values: wave(4.0) },
        ],
        top_line: Some(Series {
            label: "capacity".into(),
            points: vec![(0.0, 96.0), (50.0, 120.0), (99.0, 120.0)],
            style: LineStyle::default(),
        }),
    })
}

fn blocked_intervals() -> Chart {
    Chart::Intervals(IntervalChart {
        title: "Head-blocked intervals".into(),
        x_label: "time (h)".into(),
        lanes: vec![
            Lane { label: "high".into(), intervals: vec![(1.0, 2.5), (4.0, 4.2)] },
            Lane { label: "normal".into(), intervals: vec![(0.5, 6.0)] },
        ],
        x_range: Some((0.0, 8.0)),
    })
}

fn plan_curve() -> Chart {
    let points = (4..=12)
        .map(|nodes| {
            let n = f64::from(nodes);
            let mid = 120.0 / (n - 3.0);
            (n, mid * 0.8, mid, mid * 1.3)
        })
        .collect();
    Chart::Band(BandChart {
        title: "high p95 wait against node count".into(),
        x_label: "nodes in pool workers".into(),
        y_label: "high p95 wait (min)".into(),
        series: vec![BandSeries { label: "median over 5 seeds".into(), points, color: 1 }],
        threshold: Some(("SLO ≤ 10 min".into(), 10.0)),
        integer_x: true,
    })
}

fn every_chart() -> Vec<(&'static str, Chart)> {
    vec![
        ("wait_cdf", wait_cdf()),
        ("usage_stacked", usage_stacked()),
        ("blocked_intervals", blocked_intervals()),
        ("plan_curve", plan_curve()),
    ]
}

/// Decodes a PNG and returns its width, height and RGB pixels.
fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a known buffer size")];
    let frame = reader.next_frame(&mut pixels).expect("one frame");
    pixels.truncate(frame.buffer_size());
    (frame.width, frame.height, pixels)
}

fn variance(samples: &[u8]) -> f64 {
    let n = samples.len() as f64;
    let mean = samples.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    samples.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n
}

fn scratch_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("charts");
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

#[test]
fn every_chart_renders_to_a_png_of_the_requested_size_that_is_not_blank() {
    let size = ChartSize { width: 800, height: 420 };
    let dir = scratch_dir();
    for (name, chart) in every_chart() {
        let bytes = chart.to_png(size).expect("the chart renders");
        std::fs::write(dir.join(format!("{name}.png")), &bytes).expect("the PNG is written");

        let (width, height, pixels) = decode(&bytes);
        assert_eq!((width, height), (800, 420), "{name}");
        assert!(variance(&pixels) > 100.0, "{name} looks blank");
    }
}

#[test]
fn every_chart_renders_to_an_svg_that_names_its_title() {
    for (name, chart) in every_chart() {
        let svg = chart.to_svg(ChartSize::REPORT).expect("the chart renders");
        assert!(svg.starts_with("<svg"), "{name}");
        assert!(svg.contains(chart.title()), "{name} lacks its title");
        assert!(svg.contains("width=\"960\""), "{name}");
    }
}

#[test]
fn charts_without_data_still_render_with_a_note() {
    let empty = Chart::Line(LineChart {
        title: "Queue length".into(),
        x_label: "time (h)".into(),
        y_label: "jobs".into(),
        series: vec![Series { label: "high".into(), points: vec![], style: LineStyle::default() }],
        step: true,
        x_range: None,
        y_range: None,
        legend: LegendPosition::UpperRight,
    });
    let svg = empty.to_svg(ChartSize::REPORT).expect("renders");
    assert!(svg.contains("no data"));
    let (width, height, _) = decode(&empty.to_png(ChartSize::REPORT).expect("renders"));
    assert_eq!((width, height), (960, 480));

    let no_lanes = Chart::Intervals(IntervalChart {
        title: "Head-blocked intervals".into(),
        x_label: "time (h)".into(),
        lanes: vec![],
        x_range: None,
    });
    assert!(no_lanes.to_png(ChartSize::REPORT).is_ok());

    let one_lane = Chart::Intervals(IntervalChart {
        title: "Head-blocked intervals".into(),
        x_label: "time (h)".into(),
        lanes: vec![Lane { label: "high".into(), intervals: vec![(0.0, 1.0)] }],
        x_range: None,
    });
    let svg = one_lane.to_svg(ChartSize::REPORT).expect("renders");
    assert!(svg.contains("\nhigh\n"), "the lane is labelled");
}

#[test]
fn render_picks_the_format_and_rejects_an_empty_size() {
    let chart = wait_cdf();
    let png = chart.render(ImageFormat::Png, ChartSize::REPORT).expect("renders");
    assert!(png.starts_with(b"\x89PNG"));
    let svg = chart.render(ImageFormat::Svg, ChartSize::REPORT).expect("renders");
    assert!(svg.starts_with(b"<svg"));

    let empty = chart.to_png(ChartSize { width: 0, height: 10 });
    assert!(matches!(empty, Err(ChartError::EmptySize { width: 0, height: 10 })));
}
