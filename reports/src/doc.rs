//! A report as a list of blocks, written out as Markdown and as one HTML page. Both come from
//! the same blocks, so the two files always show the same numbers.

use std::fmt::Write as _;

/// One piece of a report.
#[derive(Clone, Debug)]
pub(crate) enum Block {
    Heading(String),
    /// Plain text; text between backticks is shown as code.
    Paragraph(String),
    Table(Table),
    Figure(FigureBlock),
    /// A listing shown as it is, such as the scenario a run came from.
    Listing {
        language: &'static str,
        text: String,
    },
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table { headers: headers.iter().map(|h| (*h).to_owned()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether a column holds numbers (and `n/a`), to be aligned right. The first column never
    /// does: it names the row.
    fn is_numeric(&self, column: usize) -> bool {
        column > 0
            && self.rows.iter().all(|row| {
                row.get(column).is_none_or(|cell| {
                    cell.is_empty()
                        || cell == "n/a"
                        || cell.trim_start_matches('-').starts_with(|c: char| c.is_ascii_digit())
                })
            })
    }
}

/// A chart saved beside the report: paths relative to the report, and the PNG to embed.
#[derive(Clone, Debug)]
pub(crate) struct FigureBlock {
    pub title: String,
    pub caption: String,
    pub png_path: String,
    pub svg_path: String,
    pub png: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Document {
    pub title: String,
    pub blocks: Vec<Block>,
}

impl Document {
    pub fn new(title: impl Into<String>) -> Document {
        Document { title: title.into(), blocks: Vec::new() }
    }

    pub fn heading(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Heading(text.into()));
    }

    pub fn paragraph(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Paragraph(text.into()));
    }

    pub fn table(&mut self, table: Table) {
        self.blocks.push(Block::Table(table));
    }

    pub fn figure(&mut self, figure: FigureBlock) {
        self.blocks.push(Block::Figure(figure));
    }

    pub fn listing(&mut self, language: &'static str, text: impl Into<String>) {
        self.blocks.push(Block::Listing { language, text: text.into() });
    }

    pub fn to_markdown(&self) -> String {
        let mut out = format!("# {}\n", self.title);
        for block in &self.blocks {
            out.push('\n');
            match block {
                Block::Heading(text) => {
                    let _ = writeln!(out, "## {text}");
                }
                Block::Paragraph(text) => {
                    let _ = writeln!(out, "{text}");
                }
                Block::Table(table) => markdown_table(table, &mut out),
                Block::Figure(figure) => {
                    let _ = writeln!(out, "### {}\n", figure.title);
                    let _ = writeln!(out, "![{}]({})\n", figure.title, figure.png_path);
                    let _ = writeln!(out, "*{}* ([SVG]({}))", figure.caption, figure.svg_path);
                }
                Block::Listing { language, text } => {
                    // A fence longer than any run of backticks in the text cannot close early.
                    let fence = "`".repeat(longest_run(text, '`').max(2) + 1);
                    let _ = writeln!(out, "{fence}{language}\n{}\n{fence}", text.trim_end());
                }
            }
        }
        out
    }

    pub fn to_html(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
            escape(&self.title),
            escape(&self.title)
        );
        for block in &self.blocks {
            match block {
                Block::Heading(text) => {
                    let _ = writeln!(out, "<h2>{}</h2>", escape(text));
                }
                Block::Paragraph(text) => {
                    let _ = writeln!(out, "<p>{}</p>", inline_code(&escape(text)));
                }
                Block::Table(table) => html_table(table, &mut out),
                Block::Figure(figure) => {
                    let _ = writeln!(
                        out,
                        "<figure>\n<h3>{title}</h3>\n<img src=\"data:image/png;base64,{data}\" \
                         width=\"{width}\" height=\"{height}\" alt=\"{title}\" \
                         data-file=\"{png}\">\n<figcaption>{caption} Files: \
                         <a href=\"{png}\">PNG</a>, <a href=\"{svg}\">SVG</a>.</figcaption>\n\
                         </figure>",
                        title = escape(&figure.title),
                        data = base64(&figure.png),
                        width = figure.width,
                        height = figure.height,
                        png = escape(&figure.png_path),
                        svg = escape(&figure.svg_path),
                        caption = escape(&figure.caption),
                    );
                }
                Block::Listing { language, text } => {
                    let _ = writeln!(
                        out,
                        "<pre><code class=\"language-{language}\">{}</code></pre>",
                        escape(text.trim_end())
                    );
                }
            }
        }
        out.push_str("</main>\n</body>\n</html>\n");
        out
    }
}

const STYLE: &str = "body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; \
color: #1d1d1f; background: #fff; margin: 0; }
main { max-width: 1000px; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05rem; margin-bottom: 0.4rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #d0d0d0; padding: 0.25rem 0.6rem; text-align: right; }
th.text, td.text { text-align: left; }
th { background: #f3f3f3; }
tr:nth-child(even) td { background: #fafafa; }
code { background: #f3f3f3; padding: 0 0.2rem; border-radius: 3px; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9rem; }
pre { background: #f6f6f6; border: 1px solid #e3e3e3; padding: 0.8rem; overflow-x: auto; \
font-size: 0.85rem; }
";

fn markdown_table(table: &Table, out: &mut String) {
    let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
    let header: Vec<String> = table.headers.iter().map(|h| cell(h)).collect();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let rule: Vec<&str> = (0..table.headers.len())
        .map(|column| if table.is_numeric(column) { "---:" } else { "---" })
        .collect();
    let _ = writeln!(out, "| {} |", rule.join(" | "));
    for row in &table.rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
}

fn html_table(table: &Table, out: &mut String) {
    let numeric: Vec<bool> = (0..table.headers.len()).map(|c| table.is_numeric(c)).collect();
    let class = |column: usize| {
        if numeric.get(column).copied().unwrap_or(false) { "" } else { " class=\"text\"" }
    };
    out.push_str("<table>\n<thead><tr>");
    for (column, header) in table.headers.iter().enumerate() {
        let _ = write!(out, "<th{}>{}</th>", class(column), escape(header));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &table.rows {
        out.push_str("<tr>");
        for (column, cell) in row.iter().enumerate() {
            let _ = write!(out, "<td{}>{}</td>", class(column), inline_code(&escape(cell)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// Escapes text for HTML content and attribute values.
/// The length of the longest run of `c` in `text`.
fn longest_run(text: &str, c: char) -> usize {
    let (mut longest, mut current) = (0, 0);
    for next in text.chars() {
        current = if next == c { current + 1 } else { 0 };
        longest = longest.max(current);
    }
    longest
}

pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Turns `text` between pairs of backticks into `<code>` elements (on escaped text).
fn inline_code(escaped: &str) -> String {
    let parts: Vec<&str> = escaped.split('`').collect();
    if parts.len() < 3 {
        return escaped.to_owned();
    }
    let mut out = String::with_capacity(escaped.len() + 16);
    let last = parts.len() - 1;
    for (index, part) in parts.iter().enumerate() {
        let inside = index % 2 == 1;
        // An unmatched last backtick stays a backtick.
        if inside && index == last {
            out.push('`');
            out.push_str(part);
        } else if inside {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// Standard base64 with padding (RFC 4648), for embedding PNGs in the page.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 0x3f) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_test_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
        }
    }

    #[test]
    fn html_escapes_and_marks_code() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(
            inline_code("run `sparkq simulate` now"),
            "run <code>sparkq simulate</code> now"
        );
        assert_eq!(inline_code("one ` tick"), "one ` tick");
    }

    #[test]
    fn markdown_tables_escape_pipes() {
        let mut table = Table::new(&["name", "value"]);
        table.row(vec!["a|b".into(), "1".into()]);
        let mut doc = Document::new("T");
        doc.table(table);
        assert!(doc.to_markdown().contains("| a\\|b | 1 |"));
    }
}
