//! Is a generated report complete? Every expected figure is referenced by
//! the markdown, exists, and is a non-empty SVG whose tags nest; every
//! section has its table or says why it was skipped; no template syntax is
//! left over.

use std::path::Path;

use crate::report::{NO_RESULTS, SECTIONS, SKIPPED};

/// Problems found in `docs_dir` (`results.md` and `img/`); empty when complete.
pub fn check_output(docs_dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let markdown = match std::fs::read_to_string(docs_dir.join("results.md")) {
        Ok(markdown) => markdown,
        Err(error) => return vec![format!("results.md: {error}")],
    };
    for marker in ["{{", "{%", "}}", "%}", "NaN", "inf "] {
        if let Some(line) = markdown.lines().find(|line| line.contains(marker)) {
            problems.push(format!("results.md has `{marker}` left over: {line}"));
        }
    }
    for (heading, figures) in SECTIONS {
        let Some(section) = section(&markdown, heading) else {
            problems.push(format!("section `{heading}` is missing"));
            continue;
        };
        if section.contains(SKIPPED) {
            continue;
        }
        if let Some(at) = section.find(NO_RESULTS) {
            let line = section[at..].lines().next().unwrap_or_default();
            problems.push(format!("section `{heading}`: {line}"));
            continue;
        }
        if !section.lines().any(|line| line.starts_with("|---")) {
            problems.push(format!("section `{heading}` has no table"));
        }
        for figure in *figures {
            if !section.contains(&format!("](img/{figure})")) {
                problems.push(format!("section `{heading}` does not show img/{figure}"));
            }
            let path = docs_dir.join("img").join(figure);
            match std::fs::read_to_string(&path) {
                Ok(svg) => {
                    if let Err(problem) = check_svg(&svg) {
                        problems.push(format!("img/{figure}: {problem}"));
                    }
                }
                Err(error) => problems.push(format!("img/{figure}: {error}")),
            }
        }
    }
    problems
}

/// The text from `## heading` to the next `## `.
fn section<'a>(markdown: &'a str, heading: &str) -> Option<&'a str> {
    let start = markdown.find(&format!("\n## {heading}\n"))? + 1;
    let body = &markdown[start..];
    let end = body[3..].find("\n## ").map_or(body.len(), |end| end + 4);
    Some(&body[..end])
}

/// A non-empty SVG document whose elements open and close in order, with
/// something drawn in it.
pub fn check_svg(svg: &str) -> Result<(), String> {
    let trimmed = svg.trim();
    if trimmed.is_empty() {
        return Err("empty".into());
    }
    let mut open: Vec<&str> = Vec::new();
    let mut elements = 0;
    let mut rest = trimmed;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after
            .find('>')
            .ok_or_else(|| format!("unterminated tag at `{}`", head(&rest[start..])))?;
        let tag = &after[..end];
        rest = &after[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some(expected) if expected == name.trim() => {}
                Some(expected) => return Err(format!("</{name}> closes <{expected}>")),
                None => return Err(format!("</{name}> closes nothing")),
            }
            continue;
        }
        let name = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or_default();
        if name.is_empty() {
            return Err(format!("a tag without a name at `{}`", head(tag)));
        }
        if open.is_empty() && (elements > 0 || name != "svg") {
            return Err(format!("<{name}> outside the root <svg>"));
        }
        elements += 1;
        if !tag.ends_with('/') {
            open.push(name);
        }
    }
    if let Some(unclosed) = open.last() {
        return Err(format!("<{unclosed}> is never closed"));
    }
    if elements < 3 {
        return Err("nothing drawn".into());
    }
    Ok(())
}

fn head(text: &str) -> &str {
    let end = text
        .char_indices()
        .nth(40)
        .map_or(text.len(), |(index, _)| index);
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_svg_accepts_nested_documents() {
        let svg = r#"<?xml version="1.0"?><svg width="2"><rect x="0"/><g><text>a &amp; b</text></g></svg>"#;
        assert_eq!(check_svg(svg), Ok(()));
    }

    #[test]
    fn check_svg_names_the_problem() {
        assert_eq!(check_svg("  "), Err("empty".into()));
        assert!(
            check_svg("<svg><g></svg>")
                .unwrap_err()
                .contains("closes <g>")
        );
        assert!(
            check_svg("<svg><rect/>")
                .unwrap_err()
                .contains("never closed")
        );
        assert!(
            check_svg("<svg><rect/><rect")
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(
            check_svg("<svg></svg><svg></svg>")
                .unwrap_err()
                .contains("outside")
        );
        assert!(
            check_svg("<svg></svg>")
                .unwrap_err()
                .contains("nothing drawn")
        );
    }

    #[test]
    fn section_stops_at_the_next_heading() {
        let markdown = "# t\n\n## A\nbody a\n## B\nbody b\n";
        assert_eq!(section(markdown, "A"), Some("## A\nbody a\n"));
        assert_eq!(section(markdown, "B"), Some("## B\nbody b\n"));
        assert_eq!(section(markdown, "C"), None);
    }
}
