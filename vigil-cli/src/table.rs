//! Tables (cli.md §2.3): one header row, then one row per item; columns
//! left-aligned, each as wide as its widest cell, separated by two spaces.
//! The last column is not padded, so no line ends in spaces.

/// Spaces between two columns.
const GAP: usize = 2;

/// A table being filled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with this header row.
    pub fn new(header: &[&str]) -> Self {
        Self {
            rows: vec![header.iter().map(|cell| (*cell).to_owned()).collect()],
        }
    }

    /// Adds a row. Callers put `-` in cells that have no value.
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The table as text, each line ending in `\n`.
    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (index, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if index + 1 < row.len() {
                    let padding = widths[index] - cell.chars().count() + GAP;
                    line.extend(std::iter::repeat_n(' ', padding));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|cell| (*cell).to_owned()).collect()
    }

    #[test]
    fn layout_matches_the_spec_example() {
        let mut table = Table::new(&["Service", "Startup", "Current", "Since"]);
        table.push(strings(&["db", "enabled", "active", "today at 10:00 UTC"]));
        table.push(strings(&["web", "disabled", "inactive", "-"]));
        assert_eq!(
            table.render(),
            "Service  Startup   Current   Since\n\
             db       enabled   active    today at 10:00 UTC\n\
             web      disabled  inactive  -\n"
        );
    }

    #[test]
    fn widths_count_characters_and_last_column_is_not_padded() {
        let mut table = Table::new(&["ID", "Summary"]);
        table.push(strings(&["1", "Démarrer «web»"]));
        table.push(strings(&["100", ""]));
        assert_eq!(table.render(), "ID   Summary\n1    Démarrer «web»\n100\n");
        assert_eq!(Table::new(&["Only"]).render(), "Only\n");
    }
}
