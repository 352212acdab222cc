//! Messages in Python's words. The library and the command line name their settings as flags
//! (`--allow-download`, `--token or HF_TOKEN`); a Python caller sets them as keyword arguments
//! (`allow_download=True`, `token=`), and some not at all. Every message that becomes a Python
//! exception passes through [`python_words`]: a flag this package takes as a keyword is named as
//! that keyword, any other flag as the `capcache` command's, and clap's usage lines are dropped.

/// The flags the package's functions take as keyword arguments, as a caller writes them.
pub const KEYWORDS: &[(&str, &str)] = &[
    ("--allow-download", "allow_download=True"),
    ("--strategies", "strategies="),
    ("--revision", "revision="),
    ("--endpoint", "endpoint="),
    ("--token", "token="),
    ("--repo", "repo="),
    ("--db", "db="),
];

/// `text` with each `--flag` (at the start of a word: paths such as `models--org--name` are left
/// alone) in Python's words, clap's `<VALUE>` placeholders after a flag and its "Usage:" and
/// "try '--help'" lines dropped.
pub fn python_words(text: &str) -> String {
    let kept: Vec<&str> =
        text.lines().filter(|l| !l.trim_start().starts_with("Usage:") && !l.contains("try '--help'")).collect();
    let text = kept.join("\n");
    let text = text.trim_end().strip_prefix("error: ").unwrap_or(text.trim_end());
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(at) = rest.find("--") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let starts_word = out.chars().last().is_none_or(|c| !(c.is_alphanumeric() || c == '-' || c == '_'));
        let flag_len = 2 + from[2..].find(|c: char| !(c.is_ascii_lowercase() || c == '-')).unwrap_or(from.len() - 2);
        let flag = &from[..flag_len];
        if !starts_word || flag_len == 2 || !flag.as_bytes()[2].is_ascii_lowercase() {
            out.push_str("--");
            rest = &from[2..];
            continue;
        }
        match KEYWORDS.iter().find(|(f, _)| *f == flag) {
            Some((_, keyword)) => out.push_str(keyword),
            None => {
                out.push_str("the capcache command's ");
                out.push_str(flag);
            }
        }
        rest = &from[flag_len..];
        // clap's `--revision <REVISION>`: the placeholder means nothing to a Python caller.
        if let Some(after) = rest.strip_prefix(" <")
            && let Some(end) = after.find('>')
        {
            rest = &after[end + 1..];
        }
    }
    out.push_str(rest);
    out
}
