//! The rate–quality chart of `walloc eval --plot`: one line per codec, as SVG.

use plotters::prelude::*;

use super::Curve;

/// Draws every curve's (rate, quality) points as an SVG document. Text is left to the
/// viewer's fonts (SVG `<text>`), so plotters needs no font feature.
pub fn svg(curves: &[Curve], x_desc: &str, y_desc: &str) -> Result<String, String> {
    let finite = |c: &Curve| -> Vec<(f64, f64)> {
        let mut pts: Vec<(f64, f64)> = c
            .points
            .iter()
            .map(|p| (p.rate, p.quality))
            .filter(|(r, q)| r.is_finite() && q.is_finite())
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        pts
    };
    let all: Vec<(f64, f64)> = curves.iter().flat_map(finite).collect();
    if all.is_empty() {
        return Err("nothing to plot: no codec produced a finite point".into());
    }
    let span = |v: Vec<f64>| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // A margin so end points are not drawn on the frame; a single value gets a range.
        let pad = if hi > lo {
            (hi - lo) * 0.05
        } else {
            hi.abs().max(1.0) * 0.05
        };
        (lo - pad, hi + pad)
    };
    let (x0, x1) = span(all.iter().map(|p| p.0).collect());
    let (y0, y1) = span(all.iter().map(|p| p.1).collect());
    let x0 = x0.max(0.0);
    let err = |e: DrawingAreaErrorKind<_>| format!("cannot draw the chart: {e}");
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (800, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("walloc eval: rate vs quality", ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()
            .map_err(err)?;
        for (i, curve) in curves.iter().enumerate() {
            let pts = finite(curve);
            if pts.is_empty() {
                continue;
            }
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(err)?
                .label(curve.codec.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(PointSeries::of_element(
                    pts,
                    3,
                    color.filled(),
                    &|c, s, st| Circle::new(c, s, st),
                ))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}
