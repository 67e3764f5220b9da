//! Text from commits, branches and reviewers placed into Markdown that GitHub renders (check-run
//! summaries). Such text is written by whoever pushed: it must show as written, never become a
//! link, an image, a heading or a fake verdict.

/// `text` as one inline code span: the fence is longer than any run of backticks inside, and
/// line breaks become spaces, so nothing can close the span early.
pub fn code(text: &str) -> String {
    let text = one_line(text);
    let mut longest = 0;
    let mut run = 0;
    for character in text.chars() {
        run = if character == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    // CommonMark strips one space on each side, which lets a span start or end with a backtick.
    if longest > 0 { format!("{fence} {text} {fence}") } else { format!("{fence}{text}{fence}") }
}

/// `text` as plain Markdown text: every character Markdown or GitHub's HTML filter could act on
/// is escaped, and line breaks become spaces.
pub fn text(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in one_line(text).chars() {
        if matches!(
            character,
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '<' | '>' | '#' | '!' | '|' | '~' | '&' | '@' | ':'
        ) {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

fn one_line(text: &str) -> String {
    text.chars().map(|character| if character.is_control() { ' ' } else { character }).collect()
}
