//! `tessera-load --report results.jsonl`: turns the JSON lines of `--json` runs into Markdown
//! tables, written between two markers in `docs/benchmarks.md` (the rest of the file is left
//! as it is), and SVG plots of throughput and latency percentiles.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde_json::Value;

const BEGIN: &str = "<!-- bench/run: begin (generated; edit bench/load/src/report.rs instead) -->";
const END: &str = "<!-- bench/run: end -->";

/// Reads `results`, rewrites the generated section of `doc` and the plots in `plots`.
///
/// # Errors
/// Unreadable results, or files that cannot be written.
pub fn render(results: &Path, doc: &Path, plots: &Path) -> anyhow::Result<()> {
    let lines = std::fs::read_to_string(results).with_context(|| format!("reading {}", results.display()))?;
    let rows: Vec<Value> = lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("a result line is not JSON")?;
    let suite = |name: &'static str| rows.iter().filter(move |r| r["suite"] == name);
    std::fs::create_dir_all(plots)?;
    let rel = plots
        .strip_prefix(doc.parent().unwrap_or(Path::new("")))
        .unwrap_or(plots)
        .display()
        .to_string();

    let mut md = String::new();
    let date = std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let _ = writeln!(
        md,
        "## All together (`bench/run`)\n\nWritten by `bench/run` on {date}: every figure below comes from one run \
         on one machine (2 cores shared by servers and load generators), so compare within it.\n"
    );

    // Tessera and the peer.
    let peer: Vec<&Value> = suite("peer").collect();
    if !peer.is_empty() {
        let _ = writeln!(
            md,
            "### Tessera next to oidc-provider\n\nTessera on durable storage ({}), panva `oidc-provider` on its in-memory \
             adapter, same workloads, same client, halves in the order Tessera, peer, peer, Tessera.\n",
            peer[0]["backend"].as_str().unwrap_or("")
        );
        let _ = writeln!(
            md,
            "| workload | Tessera req/s | p50 / p99 ms | oidc-provider req/s | p50 / p99 ms | Tessera / peer |\n|---|---:|---:|---:|---:|---:|"
        );
        let mut bars = Vec::new();
        let mut lat = Vec::new();
        for pair in peer.chunks(2) {
            let [t, p] = pair else { continue };
            let ratio = num(t, "rate") / num(p, "rate").max(1e-9);
            let _ = writeln!(
                md,
                "| {} | {:.0} | {} | {:.0} | {} | **{:.1}×** |",
                text(t, "workload"),
                num(t, "rate"),
                ms_pair(t),
                num(p, "rate"),
                ms_pair(p),
                ratio
            );
            for r in [t, p] {
                let label = format!("{}: {}", text(r, "server"), text(r, "workload"));
                bars.push((label.clone(), num(r, "rate"), colour(text(r, "server"))));
                lat.push((label, percentiles(r)));
            }
        }
        throughput_and_latency(
            &mut md,
            plots,
            &rel,
            "peer",
            ("Throughput, Tessera and oidc-provider", &bars),
            ("Latency, Tessera and oidc-provider", &lat),
        )?;
    }

    // The token endpoint on each backend.
    let token: Vec<&Value> = suite("token").collect();
    if !token.is_empty() {
        let _ = writeln!(
            md,
            "### The token endpoint on SQLite and PostgreSQL\n\n| backend | workload | req/s | vs `/healthz` | p50 / p99 ms | server cores |\n|---|---|---:|---:|---:|---:|"
        );
        let mut bars = Vec::new();
        let mut lat = Vec::new();
        for r in &token {
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {:.2}× | {} | {:.2} |",
                text(r, "backend"),
                text(r, "workload"),
                num(r, "rate"),
                num(r, "rate") / num(r, "baseline_rate").max(1e-9),
                ms_pair(r),
                num(r, "server_cores")
            );
            let label = format!("{}: {}", text(r, "backend"), text(r, "workload"));
            bars.push((label.clone(), num(r, "rate"), colour(text(r, "backend"))));
            lat.push((label, percentiles(r)));
        }
        throughput_and_latency(
            &mut md,
            plots,
            &rel,
            "token",
            ("Token endpoint throughput", &bars),
            ("Token endpoint latency", &lat),
        )?;
    }

    // Continuous access evaluation.
    let cae: Vec<&Value> = suite("cae").collect();
    if !cae.is_empty() {
        let _ = writeln!(
            md,
            "### Continuous access evaluation: admin action → SET at every API\n\n| delivery | streams | action → SET p50 / p99 ms | burst SETs/s | plain POST/s |\n|---|---:|---:|---:|---:|"
        );
        let mut lat = Vec::new();
        for r in &cae {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.0} | {:.0} |",
                text(r, "mode"),
                num(r, "streams"),
                ms_pair(r),
                num(r, "burst_rate"),
                num(r, "baseline_rate")
            );
            lat.push((
                format!("{}, {} streams", text(r, "mode"), num(r, "streams")),
                percentiles(r),
            ));
        }
        write_plot(
            plots,
            "cae-latency.svg",
            &latency_chart("Admin action to SET received", &lat),
        )?;
        let _ = writeln!(md, "\n![action to SET]({rel}/cae-latency.svg)\n");
    }

    let old = std::fs::read_to_string(doc).unwrap_or_default();
    let section = format!("{BEGIN}\n{md}{END}");
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if e > b => format!("{}{section}{}", &old[..b], &old[e + END.len()..]),
        _ => format!("{}\n{section}\n", old.trim_end()),
    };
    std::fs::write(doc, new).with_context(|| format!("writing {}", doc.display()))?;
    println!("{md}");
    eprintln!("wrote {} and the plots in {}", doc.display(), plots.display());
    Ok(())
}

/// Writes `<stem>-throughput.svg` and `<stem>-latency.svg` into `plots` and links both from `md`
/// (`rel` is the plots' directory as the document sees it).
fn throughput_and_latency(
    md: &mut String,
    plots: &Path,
    rel: &str,
    stem: &str,
    (bars_title, bars): (&str, &[(String, f64, &str)]),
    (latency_title, latency): (&str, &[(String, [f64; 3])]),
) -> anyhow::Result<()> {
    write_plot(
        plots,
        &format!("{stem}-throughput.svg"),
        &bar_chart(bars_title, "requests/s", bars),
    )?;
    write_plot(
        plots,
        &format!("{stem}-latency.svg"),
        &latency_chart(latency_title, latency),
    )?;
    let _ = writeln!(
        md,
        "\n![throughput]({rel}/{stem}-throughput.svg)\n\n![latency percentiles]({rel}/{stem}-latency.svg)\n"
    );
    Ok(())
}

fn num(r: &Value, key: &str) -> f64 {
    r[key].as_f64().unwrap_or(0.0)
}

fn text<'a>(r: &'a Value, key: &str) -> &'a str {
    r[key].as_str().unwrap_or("")
}

fn ms_pair(r: &Value) -> String {
    format!(
        "{:.2} / {:.2}",
        num(r, "p50_us") / 1000.0,
        num(r, "p99_us") / 1000.0
    )
}

/// p50, p90, p99 in ms (p90 may be missing: then p50).
fn percentiles(r: &Value) -> [f64; 3] {
    let p90 = r.get("p90_us").map_or(num(r, "p50_us"), |_| num(r, "p90_us"));
    [num(r, "p50_us") / 1000.0, p90 / 1000.0, num(r, "p99_us") / 1000.0]
}

fn colour(series: &str) -> &'static str {
    match series {
        "Tessera" | "SQLite" => "#2b6cb0",
        "PostgreSQL" => "#2f855a",
        _ => "#c05621",
    }
}

fn write_plot(dir: &Path, name: &str, svg: &str) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

const LABEL_W: f64 = 330.0;
const PLOT_W: f64 = 420.0;
const ROW_H: f64 = 26.0;
const TOP: f64 = 40.0;

fn frame(title: &str, rows: usize, legend: &str) -> (String, f64) {
    let height = TOP + ROW_H * rows as f64 + 40.0;
    let width = LABEL_W + PLOT_W + 190.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\
         <text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}</text>\
         <text x=\"{}\" y=\"{}\" fill=\"#555\">{}</text>",
        escape(title),
        LABEL_W,
        height - 12.0,
        escape(legend)
    );
    (svg, height)
}

/// Horizontal bars, one per row, scaled to the largest value.
fn bar_chart(title: &str, unit: &str, bars: &[(String, f64, &str)]) -> String {
    let (mut svg, _) = frame(title, bars.len(), unit);
    let max = bars.iter().map(|b| b.1).fold(1.0_f64, f64::max);
    for (i, (label, value, fill)) in bars.iter().enumerate() {
        let y = TOP + ROW_H * i as f64;
        let w = (value / max * PLOT_W).max(1.0);
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{LABEL_W}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" fill=\"{fill}\"/>\
             <text x=\"{}\" y=\"{}\">{value:.0}</text>",
            LABEL_W - 8.0,
            y + 15.0,
            escape(label),
            y + 3.0,
            ROW_H - 8.0,
            LABEL_W + w + 5.0,
            y + 15.0,
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// One row per series: p99, p90 and p50 as overlaid bars (darker is lower), in ms.
fn latency_chart(title: &str, rows: &[(String, [f64; 3])]) -> String {
    let (mut svg, _) = frame(title, rows.len(), "ms: p50 (dark), p90, p99 (light)");
    let max = rows.iter().map(|r| r.1[2]).fold(0.001_f64, f64::max);
    for (i, (label, p)) in rows.iter().enumerate() {
        let y = TOP + ROW_H * i as f64;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            LABEL_W - 8.0,
            y + 15.0,
            escape(label)
        );
        for (v, fill) in [(p[2], "#bee3f8"), (p[1], "#63b3ed"), (p[0], "#2b6cb0")] {
            let w = (v / max * PLOT_W).max(1.0);
            let _ = write!(
                svg,
                "<rect x=\"{LABEL_W}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" fill=\"{fill}\"/>",
                y + 3.0,
                ROW_H - 8.0
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\">{:.2} / {:.2} / {:.2}</text>",
            LABEL_W + (p[2] / max * PLOT_W).max(1.0) + 5.0,
            y + 15.0,
            p[0],
            p[1],
            p[2]
        );
    }
    svg.push_str("</svg>\n");
    svg
}
