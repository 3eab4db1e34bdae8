//! A minimal aligned text table: column widths from the widest cell, colour applied after
//! padding so escape codes never disturb the alignment.

/// How a column's cells are aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A colour for one cell, used only when colour is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Plain,
    Good,
    Bad,
}

/// ANSI colour, on only when stdout is a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Palette {
    /// Whether escape codes are written.
    pub(crate) enabled: bool,
}

impl Palette {
    /// Paints `text` in `tone`.
    pub(crate) fn paint(self, tone: Tone, text: &str) -> String {
        let code = match tone {
            Tone::Plain => return text.to_owned(),
            Tone::Good => "32",
            Tone::Bad => "31",
        };
        if self.enabled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Bold `text`.
    pub(crate) fn bold(self, text: &str) -> String {
        if self.enabled {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// Rows of cells under a header, and section lines between them.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Line>,
}

/// One line under the header.
#[derive(Debug, Clone)]
enum Line {
    /// Cells, aligned in the columns.
    Cells(Vec<(String, Tone)>),
    /// A line of its own (`direct:`), which does not widen any column.
    Section(String),
}

impl Table {
    /// A table with these column titles and alignments.
    pub(crate) fn new(columns: &[(&str, Align)]) -> Self {
        Table {
            columns: columns.iter().map(|(t, a)| ((*t).to_owned(), *a)).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row of cells with their tones.
    pub(crate) fn toned_row(&mut self, cells: Vec<(String, Tone)>) {
        self.rows.push(Line::Cells(cells));
    }

    /// Adds a section line, printed as it is.
    pub(crate) fn section(&mut self, text: String) {
        self.rows.push(Line::Section(text));
    }

    /// Renders the header and rows, two spaces between columns, no trailing spaces.
    pub(crate) fn render(&self, palette: Palette) -> String {
        let width = |s: &str| s.chars().count();
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| match r {
                        Line::Cells(cells) => cells.get(i),
                        Line::Section(_) => None,
                    })
                    .map(|(c, _)| width(c))
                    .chain([width(&self.columns[i].0)])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<(&str, Tone)>| {
            let mut out = String::new();
            for (i, (text, tone)) in cells.iter().enumerate() {
                let pad = widths[i].saturating_sub(width(text));
                if i > 0 {
                    out.push_str("  ");
                }
                match self.columns[i].1 {
                    Align::Left => {
                        out.push_str(&palette.paint(*tone, text));
                        out.push_str(&" ".repeat(pad));
                    }
                    Align::Right => {
                        out.push_str(&" ".repeat(pad));
                        out.push_str(&palette.paint(*tone, text));
                    }
                }
            }
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
            out.push('\n');
            out
        };
        let mut out = line(
            self.columns
                .iter()
                .map(|(t, _)| (t.as_str(), Tone::Plain))
                .collect(),
        );
        for row in &self.rows {
            match row {
                Line::Cells(cells) => {
                    out.push_str(&line(cells.iter().map(|(c, t)| (c.as_str(), *t)).collect()));
                }
                Line::Section(text) => {
                    out.push_str(text);
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// `1 connection`, `3 connections`.
pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Cuts `text` to `max` characters, ending with `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Wraps `text` at `width` columns, indenting continuation lines by `indent` spaces. Leading
/// spaces of `text` are kept.
pub(crate) fn wrap(text: &str, width: usize, indent: usize) -> String {
    let body = text.trim_start_matches(' ');
    let mut out = " ".repeat(text.len() - body.len());
    let mut col = out.len();
    let start = col;
    for word in body.split(' ') {
        let len = word.chars().count();
        if col > start && col > indent && col + 1 + len > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = indent;
        } else if col > start {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Table {
        fn row(&mut self, cells: Vec<String>) {
            self.toned_row(cells.into_iter().map(|c| (c, Tone::Plain)).collect());
        }
    }

    #[test]
    fn columns_align() {
        let mut t = Table::new(&[("a", Align::Left), ("num", Align::Right)]);
        t.row(vec!["long cell".into(), "1".into()]);
        t.row(vec!["x".into(), "12345".into()]);
        assert_eq!(
            t.render(Palette { enabled: false }),
            "a            num\nlong cell      1\nx          12345\n"
        );
    }

    #[test]
    fn sections_do_not_widen_columns() {
        let mut t = Table::new(&[("a", Align::Left), ("b", Align::Left)]);
        t.section("a long section line:".into());
        t.row(vec!["x".into(), "y".into()]);
        assert_eq!(
            t.render(Palette { enabled: false }),
            "a  b\na long section line:\nx  y\n"
        );
    }

    #[test]
    fn colour_does_not_change_alignment() {
        let mut t = Table::new(&[("a", Align::Left), ("b", Align::Left)]);
        t.toned_row(vec![("ok".into(), Tone::Good), ("z".into(), Tone::Plain)]);
        let out = t.render(Palette { enabled: true });
        assert_eq!(out.lines().nth(1).unwrap(), "\x1b[32mok\x1b[0m  z");
    }

    #[test]
    fn truncate_and_wrap() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(wrap("aa bb cc dd", 8, 2), "aa bb cc\n  dd");
        assert_eq!(wrap("  aa bb cc", 7, 4), "  aa bb\n    cc");
    }
}
