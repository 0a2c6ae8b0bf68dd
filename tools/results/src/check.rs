//! Is a generated report complete? Every expected figure is referenced by
//! the markdown, exists, and is a well-formed SVG with something drawn; every
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

/// A well-formed SVG document with something drawn in it.
pub fn check_svg(svg: &str) -> Result<(), String> {
    let document = roxmltree::Document::parse(svg).map_err(|error| error.to_string())?;
    let root = document.root_element();
    if root.tag_name().name() != "svg" {
        return Err(format!(
            "the root is <{}>, not <svg>",
            root.tag_name().name()
        ));
    }
    if root.descendants().filter(|node| node.is_element()).count() < 3 {
        return Err("nothing drawn".into());
    }
    Ok(())
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
        assert!(check_svg("  ").is_err());
        assert!(check_svg("<svg><g></svg>").unwrap_err().contains("g"));
        assert!(check_svg("<svg><rect/><rect").is_err());
        assert!(
            check_svg("<html><a/><b/><c/></html>")
                .unwrap_err()
                .contains("not <svg>")
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
