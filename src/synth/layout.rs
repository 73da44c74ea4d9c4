//! Page layout of a synthetic paper: the page format (US letter or A4, one or two columns,
//! journal fonts), and a flow that sets the title block, headings, wrapped paragraphs and
//! figures with captions onto pages, floating figures that do not fit to the next column or page
//! as journals do. Everything is in page space: points from the top-left corner, y down.

use std::collections::VecDeque;

use panelscope_stages::units::BBox;

use crate::pdfgen::{Font, text_width};

use super::rng::Rng;

/// The geometry and type of a journal's pages.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PageFormat {
    pub width: f32,
    pub height: f32,
    pub margin_left: f32,
    pub margin_right: f32,
    pub margin_top: f32,
    pub margin_bottom: f32,
    /// 1 or 2.
    pub columns: u32,
    pub column_gap: f32,
    pub body_font: Font,
    pub body_size: f32,
    pub caption_font: Font,
    pub caption_size: f32,
    /// How a caption starts: `Figure`, `Fig.` or `FIGURE`.
    pub caption_word: &'static str,
    /// What follows the number: `.`, ` |` or `:`.
    pub caption_separator: &'static str,
}

impl PageFormat {
    pub(crate) fn random(rng: &mut Rng) -> Self {
        let (width, height) = if rng.chance(0.6) {
            (612.0, 792.0)
        } else {
            (595.28, 841.89)
        };
        let columns = if rng.chance(0.6) { 2 } else { 1 };
        let margin = if columns == 2 {
            rng.uniform(40.0, 60.0)
        } else {
            rng.uniform(60.0, 85.0)
        };
        let (caption_word, caption_separator) = *rng.pick(&[
            ("Figure", "."),
            ("Fig.", ""),
            ("Fig", "."),
            ("FIGURE", ""),
            ("Figure", " |"),
            ("Figure", ":"),
        ]);
        Self {
            width,
            height,
            margin_left: margin,
            margin_right: margin,
            margin_top: rng.uniform(55.0, 75.0),
            margin_bottom: rng.uniform(50.0, 70.0),
            columns,
            column_gap: rng.uniform(14.0, 24.0),
            body_font: if rng.chance(0.7) {
                Font::TimesRoman
            } else {
                Font::Helvetica
            },
            body_size: if columns == 2 {
                rng.uniform(8.5, 9.8)
            } else {
                rng.uniform(9.8, 11.2)
            },
            caption_font: if rng.chance(0.6) {
                Font::Helvetica
            } else {
                Font::TimesRoman
            },
            caption_size: rng.uniform(7.5, 8.8),
            caption_word,
            caption_separator,
        }
    }

    pub(crate) fn text_width(&self) -> f32 {
        self.width - self.margin_left - self.margin_right
    }

    pub(crate) fn column_width(&self) -> f32 {
        (self.text_width() - self.column_gap * (self.columns - 1) as f32) / self.columns as f32
    }

    pub(crate) fn body_height(&self) -> f32 {
        self.height - self.margin_top - self.margin_bottom
    }

    fn leading(&self) -> f32 {
        self.body_size * 1.22
    }

    fn column_x(&self, column: usize) -> f32 {
        self.margin_left + column as f32 * (self.column_width() + self.column_gap)
    }
}

/// One drawing instruction of a page.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PageOp {
    /// A line of text, `y` its baseline.
    Text {
        x: f32,
        y: f32,
        size: f32,
        font: Font,
        text: String,
    },
    /// A rule.
    Line {
        from: (f32, f32),
        to: (f32, f32),
        width: f32,
    },
    /// Figure `figure` of the document, drawn over `bbox`.
    Figure { figure: usize, bbox: BBox },
}

/// A figure waiting to be placed: its drawn size and caption.
#[derive(Debug, Clone)]
pub(crate) struct FigureBlock {
    /// Index of the figure in the document.
    pub figure: usize,
    /// Drawn size in points.
    pub width: f32,
    pub height: f32,
    /// Spans both columns of a two-column page.
    pub full_width: bool,
    /// `Figure 2.` (drawn bold).
    pub caption_prefix: String,
    /// The rest of the caption.
    pub caption: String,
}

/// Greedy word wrapping at `width` points; the first line may be shorter by `first_indent`.
pub(crate) fn wrap(
    text: &str,
    font: Font,
    size: f32,
    width: f32,
    first_indent: f32,
) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let available = if lines.is_empty() {
            width - first_indent
        } else {
            width
        };
        let candidate = if current.is_empty() {
            word.to_string()
        } else {
            format!("{current} {word}")
        };
        if text_width(font, size, &candidate) <= available || current.is_empty() {
            current = candidate;
        } else {
            lines.push(std::mem::replace(&mut current, word.to_string()));
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// Sets a paper's content onto pages.
#[derive(Debug)]
pub(crate) struct Flow {
    format: PageFormat,
    running_head: String,
    pages: Vec<Vec<PageOp>>,
    column: usize,
    y: f32,
    /// Where columns start on the current page (below the title block or full-width figures).
    column_top: f32,
    pending_full: VecDeque<FigureBlock>,
    pending_column: VecDeque<FigureBlock>,
}

impl Flow {
    pub(crate) fn new(format: PageFormat, running_head: String) -> Self {
        let mut flow = Self {
            column_top: format.margin_top,
            y: format.margin_top,
            format,
            running_head,
            pages: Vec::new(),
            column: 0,
            pending_full: VecDeque::new(),
            pending_column: VecDeque::new(),
        };
        flow.start_page();
        flow
    }

    /// Pages begun so far.
    pub(crate) fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// How far down the current page's last column the text has come (0–1).
    pub(crate) fn page_fill(&self) -> f32 {
        let column_share = self.column as f32 / self.format.columns as f32;
        let within = (self.y - self.format.margin_top) / self.format.body_height();
        column_share + within / self.format.columns as f32
    }

    fn bottom(&self) -> f32 {
        self.format.height - self.format.margin_bottom
    }

    fn op(&mut self, op: PageOp) {
        self.pages
            .last_mut()
            .expect("a page is always open")
            .push(op);
    }

    fn text(&mut self, x: f32, y: f32, size: f32, font: Font, text: &str) {
        self.op(PageOp::Text {
            x,
            y,
            size,
            font,
            text: text.to_string(),
        });
    }

    fn start_page(&mut self) {
        self.pages.push(Vec::new());
        let number = self.pages.len();
        let format = self.format.clone();
        let head_y = format.margin_top - 22.0;
        let head = self.running_head.clone();
        self.text(format.margin_left, head_y, 7.0, Font::Helvetica, &head);
        let number_text = number.to_string();
        let number_x =
            format.width - format.margin_right - text_width(Font::Helvetica, 7.0, &number_text);
        self.text(number_x, head_y, 7.0, Font::Helvetica, &number_text);
        self.op(PageOp::Line {
            from: (format.margin_left, head_y + 4.0),
            to: (format.width - format.margin_right, head_y + 4.0),
            width: 0.4,
        });
        self.column = 0;
        self.y = format.margin_top;
        // Full-width figures waiting for a page go to its top, then columns start below them.
        while let Some(block) = self.pending_full.front().cloned() {
            let height = self.block_height(&block, self.format.text_width());
            if self.y + height > self.bottom() && self.y > self.format.margin_top {
                break;
            }
            self.pending_full.pop_front();
            self.place_block(&block, self.format.margin_left, self.format.text_width());
        }
        self.column_top = self.y;
        self.place_pending_column();
    }

    fn next_column(&mut self) {
        if self.column + 1 < self.format.columns as usize {
            self.column += 1;
            self.y = self.column_top;
            self.place_pending_column();
        } else {
            self.start_page();
        }
    }

    /// Places waiting column figures at the top of a fresh column, as many as fit (at least one).
    fn place_pending_column(&mut self) {
        while let Some(block) = self.pending_column.front().cloned() {
            let span = self.span_width(&block);
            let height = self.block_height(&block, span);
            // Forced into a column only when nothing else is on it and no full-width figure sits
            // above it, so a too-tall figure never runs off the page.
            let fresh =
                self.y <= self.column_top + 0.5 && self.column_top <= self.format.margin_top + 0.5;
            if self.y + height > self.bottom() && !fresh {
                break;
            }
            self.pending_column.pop_front();
            let x = self.span_x(&block);
            self.place_block(&block, x, span);
        }
    }

    fn span_width(&self, block: &FigureBlock) -> f32 {
        if block.full_width {
            self.format.text_width()
        } else {
            self.format.column_width()
        }
    }

    fn span_x(&self, block: &FigureBlock) -> f32 {
        if block.full_width {
            self.format.margin_left
        } else {
            self.format.column_x(self.column)
        }
    }

    fn caption_lines(&self, block: &FigureBlock, span: f32) -> Vec<String> {
        let prefix_width = text_width(
            Font::HelveticaBold,
            self.format.caption_size,
            &block.caption_prefix,
        ) + 3.0;
        wrap(
            &block.caption,
            self.format.caption_font,
            self.format.caption_size,
            span,
            prefix_width,
        )
    }

    fn block_height(&self, block: &FigureBlock, span: f32) -> f32 {
        let lines = self.caption_lines(block, span).len() as f32;
        block.height + 8.0 + lines * self.format.caption_size * 1.25 + 12.0
    }

    /// Draws a figure centred in its span at the cursor, with its caption below.
    fn place_block(&mut self, block: &FigureBlock, x: f32, span: f32) {
        let figure_x = x + (span - block.width).max(0.0) / 2.0;
        let bbox = BBox::new(
            figure_x,
            self.y,
            figure_x + block.width,
            self.y + block.height,
        );
        self.op(PageOp::Figure {
            figure: block.figure,
            bbox,
        });
        let size = self.format.caption_size;
        let mut y = self.y + block.height + 8.0 + size;
        let prefix_width = text_width(Font::HelveticaBold, size, &block.caption_prefix) + 3.0;
        self.text(x, y, size, Font::HelveticaBold, &block.caption_prefix);
        let font = self.format.caption_font;
        for (index, line) in self.caption_lines(block, span).into_iter().enumerate() {
            let line_x = if index == 0 { x + prefix_width } else { x };
            self.text(line_x, y, size, font, &line);
            y += size * 1.25;
        }
        self.y += self.block_height(block, span);
    }

    /// Reserves a line `height` high in the current column, moving on when it is full; returns
    /// the line's top.
    fn line_slot(&mut self, height: f32) -> f32 {
        if self.y + height > self.bottom() {
            self.next_column();
        }
        let top = self.y;
        self.y += height;
        top
    }

    /// The title block, across the full width of the first page.
    pub(crate) fn title_block(
        &mut self,
        title: &str,
        authors: &str,
        affiliation: &str,
        abstract_text: &str,
    ) {
        let width = self.format.text_width();
        let x = self.format.margin_left;
        let mut y = self.format.margin_top + 8.0;
        for line in wrap(title, Font::HelveticaBold, 16.0, width, 0.0) {
            y += 19.0;
            self.text(x, y, 16.0, Font::HelveticaBold, &line);
        }
        y += 8.0;
        for line in wrap(authors, Font::Helvetica, 9.5, width, 0.0) {
            y += 12.0;
            self.text(x, y, 9.5, Font::Helvetica, &line);
        }
        for line in wrap(affiliation, Font::TimesRoman, 8.0, width, 0.0) {
            y += 10.0;
            self.text(x, y, 8.0, Font::TimesRoman, &line);
        }
        y += 18.0;
        self.text(x, y, 10.0, Font::HelveticaBold, "Abstract");
        for line in wrap(abstract_text, self.format.body_font, 9.0, width, 0.0) {
            y += 11.5;
            self.text(x, y, 9.0, self.format.body_font, &line);
        }
        y += 10.0;
        self.op(PageOp::Line {
            from: (x, y),
            to: (x + width, y),
            width: 0.6,
        });
        self.y = y + 14.0;
        self.column_top = self.y;
    }

    /// A section heading (kept with at least two lines of what follows).
    pub(crate) fn heading(&mut self, text: &str, size: f32) {
        let leading = self.format.leading();
        if self.y + size * 1.8 + 2.0 * leading > self.bottom() {
            self.next_column();
        }
        if self.y > self.column_top + 1.0 {
            self.y += size * 0.8;
        }
        let lines = wrap(
            text,
            Font::HelveticaBold,
            size,
            self.format.column_width(),
            0.0,
        );
        for line in lines {
            let top = self.line_slot(size * 1.3);
            let x = self.format.column_x(self.column);
            self.text(x, top + size, size, Font::HelveticaBold, &line);
        }
        self.y += size * 0.3;
    }

    /// A body paragraph, first line indented.
    pub(crate) fn paragraph(&mut self, text: &str) {
        let (font, size, leading) = (
            self.format.body_font,
            self.format.body_size,
            self.format.leading(),
        );
        let indent = size * 1.2;
        for (index, line) in wrap(text, font, size, self.format.column_width(), indent)
            .into_iter()
            .enumerate()
        {
            let top = self.line_slot(leading);
            let x = self.format.column_x(self.column) + if index == 0 { indent } else { 0.0 };
            self.text(x, top + size, size, font, &line);
        }
        self.y += leading * 0.3;
    }

    /// A reference-list entry, smaller, with a hanging indent.
    pub(crate) fn reference(&mut self, text: &str) {
        let size = self.format.body_size * 0.85;
        let leading = size * 1.2;
        let font = self.format.body_font;
        let lines = wrap(text, font, size, self.format.column_width() - 10.0, 0.0);
        for (index, line) in lines.into_iter().enumerate() {
            let top = self.line_slot(leading);
            let x = self.format.column_x(self.column) + if index == 0 { 0.0 } else { 10.0 };
            self.text(x, top + size, size, font, &line);
        }
        self.y += 2.0;
    }

    /// A figure: placed here when it fits, otherwise floated to the next column or page.
    pub(crate) fn figure(&mut self, block: FigureBlock) {
        let two_columns_full = block.full_width && self.format.columns > 1;
        let untouched_page = self.column == 0 && (self.y - self.column_top).abs() < 1.0;
        if two_columns_full {
            if untouched_page {
                self.place_block(&block, self.format.margin_left, self.format.text_width());
                self.column_top = self.y;
            } else {
                self.pending_full.push_back(block);
            }
            return;
        }
        let span = self.span_width(&block);
        if self.pending_column.is_empty()
            && self.y + self.block_height(&block, span) <= self.bottom()
        {
            let x = self.span_x(&block);
            self.place_block(&block, x, span);
        } else {
            self.pending_column.push_back(block);
        }
    }

    /// Places every waiting figure and returns the pages' drawing instructions.
    pub(crate) fn finish(mut self) -> Vec<Vec<PageOp>> {
        while !self.pending_full.is_empty() || !self.pending_column.is_empty() {
            self.next_column();
        }
        self.pages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(figure: usize, height: f32, full_width: bool) -> FigureBlock {
        FigureBlock {
            figure,
            width: 200.0,
            height,
            full_width,
            caption_prefix: "Figure 1.".into(),
            caption: "A caption.".into(),
        }
    }

    #[test]
    fn every_figure_lands_on_a_page_inside_the_margins() {
        let mut rng = Rng::new(11);
        for _ in 0..20 {
            let format = PageFormat::random(&mut rng);
            let mut flow = Flow::new(format.clone(), "Head".into());
            flow.title_block("A title", "A. Author", "1 Somewhere", &"word ".repeat(120));
            for k in 0..4 {
                flow.paragraph(&"lorem ipsum dolor ".repeat(60));
                flow.figure(block(k, 300.0, k % 2 == 0));
            }
            let pages = flow.finish();
            let figures: Vec<&BBox> = pages
                .iter()
                .flatten()
                .filter_map(|op| match op {
                    PageOp::Figure { bbox, .. } => Some(bbox),
                    _ => None,
                })
                .collect();
            assert_eq!(figures.len(), 4);
            for bbox in figures {
                assert!(
                    bbox.x0 >= format.margin_left - 0.01
                        && bbox.x1 <= format.width - format.margin_right + 0.01
                );
                assert!(
                    bbox.y0 >= format.margin_top - 0.01
                        && bbox.y1 <= format.height - format.margin_bottom + 0.01,
                    "{bbox:?}"
                );
            }
        }
    }

    #[test]
    fn wrapped_lines_fit_their_width() {
        let lines = wrap(
            &"several words of text ".repeat(20),
            Font::TimesRoman,
            10.0,
            150.0,
            12.0,
        );
        assert!(lines.len() > 3);
        assert!(
            lines
                .iter()
                .all(|line| text_width(Font::TimesRoman, 10.0, line) <= 150.0)
        );
    }
}
