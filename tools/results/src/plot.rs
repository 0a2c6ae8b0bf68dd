//! SVG charts over named categories (reader counts, update patterns,
//! managers): lines or grouped bars, optionally on a log scale. plotters'
//! SVG backend writes `<text>` elements and lays labels out with its
//! built-in size estimate, so no font files are read.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// How a chart draws its series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// One line per series, a marker per value: for trends (reader threads).
    Lines,
    /// Side-by-side bars per category: for comparisons.
    Bars,
}

/// How a series' values are marked on a line chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Marker {
    Circle,
    /// Set apart: the floor and other languages.
    Triangle,
}

#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    /// One value per category; `None` where there is no measurement.
    pub values: Vec<Option<f64>>,
    pub marker: Marker,
}

impl Series {
    pub fn new(name: impl Into<String>, values: Vec<Option<f64>>) -> Self {
        Self {
            name: name.into(),
            values,
            marker: Marker::Circle,
        }
    }

    pub fn marked(mut self, marker: Marker) -> Self {
        self.marker = marker;
        self
    }
}

pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub categories: Vec<String>,
    pub series: Vec<Series>,
    pub kind: Kind,
    /// Log-scale y axis: for values spanning orders of magnitude.
    pub log_y: bool,
    /// Formats a y value for the axis (`4.5 ns`, `12k`).
    pub format_y: fn(f64) -> String,
}

impl Chart {
    /// A chart of times in nanoseconds on a log scale, to be given its data
    /// with [`over`](Self::over).
    pub fn new(kind: Kind, title: &str, x_label: &str, y_label: &str) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            categories: Vec::new(),
            series: Vec::new(),
            kind,
            log_y: true,
            format_y: crate::format::nanos,
        }
    }

    pub fn over(mut self, categories: &[String], series: Vec<Series>) -> Self {
        self.categories = categories.to_vec();
        self.series = series;
        self
    }

    /// y values formatted by `format_y`.
    pub fn formatted(mut self, format_y: fn(f64) -> String) -> Self {
        self.format_y = format_y;
        self
    }

    /// A linear y axis from zero.
    pub fn linear(mut self) -> Self {
        self.log_y = false;
        self
    }
}

const HEIGHT: u32 = 500;
/// The legend has its own column right of the plot, so it hides no data.
const LEGEND_WIDTH: u32 = 230;

/// Wide enough that category names do not run into each other.
fn plot_width(categories: usize) -> u32 {
    (110 + 100 * categories as u32).max(640)
}

/// The chart as an SVG document.
pub fn render(chart: &Chart) -> Result<String, String> {
    let mut svg = String::new();
    {
        let size = (plot_width(chart.categories.len()) + LEGEND_WIDTH, HEIGHT);
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(chart, &root).map_err(|error| format!("{}: {error}", chart.title))?;
        root.present().map_err(|error| error.to_string())?;
    }
    Ok(svg)
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw(chart: &Chart, root: &DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult {
    root.fill(&WHITE)?;
    let scale = Scale::fit(chart)?;
    let categories = chart.categories.len();
    let (plot_area, legend_area) = root.split_horizontally(plot_width(categories));
    let x_range = -0.5..categories as f64 - 0.5;
    let mut context = ChartBuilder::on(&plot_area)
        .caption(&chart.title, ("sans-serif", 20))
        .margin(16)
        .margin_right(24)
        .x_label_area_size(48)
        .y_label_area_size(80)
        .build_cartesian_2d(x_range, scale.low..scale.high)?;
    let format_y = chart.format_y;
    let log_y = chart.log_y;
    let y_label = move |y: &f64| format_y(if log_y { 10f64.powf(*y) } else { *y });
    context
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(8)
        .y_label_formatter(&y_label)
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .axis_desc_style(("sans-serif", 15))
        .draw()?;

    // Category names under their slot: the x axis is numeric underneath.
    for (index, name) in chart.categories.iter().enumerate() {
        let (x, y) = context.backend_coord(&(index as f64, scale.low));
        let style = ("sans-serif", 14)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(name.as_str(), (x, y + 6), style))?;
    }

    let series_count = chart.series.len().max(1);
    for (index, series) in chart.series.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        let points: Vec<(f64, Option<f64>)> = series
            .values
            .iter()
            .enumerate()
            .map(|(category, value)| (category as f64, value.map(|v| scale.y(v))))
            .collect();
        match chart.kind {
            Kind::Lines => {
                let present: Vec<(f64, f64)> = points
                    .iter()
                    .filter_map(|(x, y)| Some((*x, (*y)?)))
                    .collect();
                context.draw_series(match series.marker {
                    Marker::Circle => present
                        .iter()
                        .map(|point| Circle::new(*point, 4, color.filled()).into_dyn())
                        .collect::<Vec<_>>(),
                    Marker::Triangle => present
                        .iter()
                        .map(|point| TriangleMarker::new(*point, 6, color.filled()).into_dyn())
                        .collect(),
                })?;
                // Consecutive measured categories are joined; a gap breaks the line.
                for pair in points.windows(2) {
                    if let [(x0, Some(y0)), (x1, Some(y1))] = pair {
                        context.draw_series(LineSeries::new(
                            [(*x0, *y0), (*x1, *y1)],
                            color.stroke_width(2),
                        ))?;
                    }
                }
            }
            Kind::Bars => {
                let slot = 0.8 / series_count as f64;
                let left = |category: f64| category - 0.4 + slot * index as f64;
                let missing_style = ("sans-serif", 12).into_font().color(&RED);
                for (x, y) in &points {
                    match y {
                        Some(y) => {
                            context.draw_series(std::iter::once(Rectangle::new(
                                [(left(*x), scale.low), (left(*x) + slot * 0.9, *y)],
                                color.filled(),
                            )))?;
                        }
                        None => {
                            context.draw_series(std::iter::once(Text::new(
                                "x",
                                (
                                    left(*x) + slot * 0.3,
                                    scale.low + (scale.high - scale.low) * 0.03,
                                ),
                                missing_style.clone(),
                            )))?;
                        }
                    }
                }
            }
        }
        let y = 70 + 24 * index as i32;
        legend_area.draw(&Rectangle::new([(6, y - 6), (20, y + 6)], color.filled()))?;
        let style = ("sans-serif", 13)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        legend_area.draw(&Text::new(series.name.as_str(), (28, y), style))?;
    }
    Ok(())
}

/// The y range, in plotted units (log10 of the value on a log scale).
struct Scale {
    log: bool,
    low: f64,
    high: f64,
}

impl Scale {
    fn fit(chart: &Chart) -> Result<Self, String> {
        let values: Vec<f64> = chart
            .series
            .iter()
            .flat_map(|series| series.values.iter().flatten().copied())
            .filter(|value| value.is_finite() && (!chart.log_y || *value > 0.0))
            .collect();
        if values.is_empty() {
            return Err(format!("{}: nothing to plot", chart.title));
        }
        let max = values.iter().copied().fold(f64::MIN, f64::max);
        let min = values.iter().copied().fold(f64::MAX, f64::min);
        Ok(if chart.log_y {
            // Whole decades, the smallest value a visible bar above the bottom.
            Self {
                log: true,
                low: (min.log10() - 0.3).floor(),
                high: (max.log10() + 0.1).ceil(),
            }
        } else {
            Self {
                log: false,
                low: 0.0,
                high: if max > 0.0 { max * 1.1 } else { 1.0 },
            }
        })
    }

    fn y(&self, value: f64) -> f64 {
        if self.log {
            value.max(f64::MIN_POSITIVE).log10().max(self.low)
        } else {
            value
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(kind: Kind, log_y: bool) -> Chart {
        Chart {
            title: "read cost & <scaling>".into(),
            x_label: "reader threads".into(),
            y_label: "ns per read".into(),
            categories: vec!["1".into(), "2".into(), "8".into()],
            series: vec![
                Series::new("mutex", vec![Some(4.9), Some(7.6), Some(30.0)]),
                Series::new("go mutex", vec![Some(4.8), None, Some(25.0)]).marked(Marker::Triangle),
            ],
            kind,
            log_y,
            format_y: |value| format!("{value:.1}"),
        }
    }

    #[test]
    fn every_kind_renders_a_checked_svg_with_its_labels() {
        for (kind, log_y) in [(Kind::Lines, true), (Kind::Bars, false), (Kind::Bars, true)] {
            let svg = render(&chart(kind, log_y)).unwrap();
            crate::check::check_svg(&svg).unwrap();
            assert!(svg.contains("go mutex"), "legend missing");
            assert!(svg.contains("reader threads"), "axis description missing");
            assert!(svg.contains("&amp;"), "title text not escaped");
        }
    }

    #[test]
    fn an_empty_chart_is_an_error_not_a_blank_picture() {
        let mut empty = chart(Kind::Lines, true);
        for series in &mut empty.series {
            series.values = vec![None, None, None];
        }
        assert!(render(&empty).unwrap_err().contains("nothing to plot"));
    }

    #[test]
    fn log_scale_spans_whole_decades() {
        let scale = Scale::fit(&chart(Kind::Lines, true)).unwrap();
        // 4.8 to 30: whole decades around them.
        assert_eq!((scale.low, scale.high), (0.0, 2.0));
        let mut exact = chart(Kind::Bars, true);
        exact.series.truncate(1);
        exact.series[0].values = vec![Some(1.0), Some(10.0), None];
        // A value on a decade still gets a visible bar.
        assert_eq!(Scale::fit(&exact).unwrap().low, -1.0);
        assert_eq!(scale.y(100.0), 2.0);
    }
}
