//! Text pushed by anyone, placed into the Markdown of a check run: it shows as written.

use countersign_core::present::markdown;

#[track_caller]
fn check_code(input: &str, expected: &str) {
    assert_eq!(markdown::code(input), expected, "code span of {input:?}");
}

#[track_caller]
fn check_text(input: &str, expected: &str) {
    assert_eq!(markdown::text(input), expected, "plain text of {input:?}");
}

#[test]
fn code_spans_cannot_be_closed_from_inside() {
    check_code("Co-Authored-By: Claude <noreply@anthropic.com>", "`Co-Authored-By: Claude <noreply@anthropic.com>`");
    // A branch name may hold backticks: the fence grows past the longest run, padded with spaces.
    check_code("branch claude/fix-`cart`", "`` branch claude/fix-`cart` ``");
    check_code(
        "``` **allowed** [approve](https://evil.example) ```",
        "```` ``` **allowed** [approve](https://evil.example) ``` ````",
    );
    check_code("`", "`` ` ``");
    // A line break would end the list item and start a heading of the attacker's choosing.
    check_code("Generated with Claude\n# allowed", "`Generated with Claude # allowed`");
    check_code("", "``");
}

#[test]
fn plain_text_escapes_what_markdown_would_act_on() {
    check_text("services: checkout, payments", "services\\: checkout, payments");
    check_text("touches src/[id]/page.tsx", "touches src/\\[id\\]/page.tsx");
    check_text(
        "[Approve now](https://evil.example) ![x](https://evil.example/x.png)",
        "\\[Approve now\\]\\(https\\://evil.example\\) \\!\\[x\\]\\(https\\://evil.example/x.png\\)",
    );
    check_text("**allowed** <img src=x> @octo-shop/admins", "\\*\\*allowed\\*\\* \\<img src=x\\> \\@octo-shop/admins");
    check_text("line one\n## allowed", "line one \\#\\# allowed");
    check_text("a_b `c` ~d~ | e & f \\", "a\\_b \\`c\\` \\~d\\~ \\| e \\& f \\\\");
}
