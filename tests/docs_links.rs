//! The documentation stands alone in a clone: every relative Markdown link in `README.md`,
//! `*/README.md` and `docs/**/*.md` resolves to a file (and heading) inside the repository, no
//! page points outside it to the design notes the project started from, and no source, manifest
//! or page names an internal work item. Standard library only, so it builds in seconds.

use std::collections::HashSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `README.md`, every `*/README.md` and every `.md` under `docs/`.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    let mut dirs: Vec<PathBuf> = fs::read_dir(root)
        .expect("read the repository root")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let readme = dir.join("README.md");
        if readme.is_file() {
            files.push(readme);
        }
    }
    let docs = root.join("docs");
    if docs.is_dir() {
        walk(&docs, &mut |p| {
            if p.extension().is_some_and(|e| e == "md") {
                files.push(p.to_path_buf());
            }
        });
    }
    files.sort();
    files.dedup();
    files
}

/// Calls `visit` for every file below `dir`, skipping build output and VCS metadata.
fn walk(dir: &Path, visit: &mut dyn FnMut(&Path)) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !matches!(name, ".git" | "target" | "node_modules") {
                walk(&path, visit);
            }
        } else {
            visit(&path);
        }
    }
}

/// Lines outside fenced code blocks, with inline code spans blanked out: `(line number, text)`.
fn prose_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fence: Option<&str> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => {
                fence = Some(m);
                continue;
            }
            (Some(open), Some(m)) if open == m => {
                fence = None;
                continue;
            }
            (Some(_), _) => continue,
            (None, None) => {}
        }
        let mut prose = String::with_capacity(line.len());
        let mut in_code = false;
        for c in line.chars() {
            if c == '`' {
                in_code = !in_code;
                prose.push(' ');
            } else {
                prose.push(if in_code { ' ' } else { c });
            }
        }
        out.push((i + 1, prose));
    }
    out
}

/// Targets of inline links and images (`[text](target "title")`) and of link definitions
/// (`[label]: target`) on one line of prose.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let target = if let Some(inner) = after.strip_prefix('<') {
            inner.split('>').next().unwrap_or("")
        } else {
            let end = after
                .find(|c: char| c == ')' || c.is_whitespace())
                .unwrap_or(after.len());
            &after[..end]
        };
        targets.push(target.to_string());
        rest = after;
    }
    let trimmed = line.trim_start();
    if trimmed.starts_with('[')
        && let Some(close) = trimmed.find("]:")
        && !trimmed[..close].contains('(')
    {
        let target = trimmed[close + 2..].split_whitespace().next().unwrap_or("");
        targets.push(target.trim_matches(|c| c == '<' || c == '>').to_string());
    }
    targets
}

fn is_external(target: &str) -> bool {
    target.contains("://") || target.starts_with("mailto:")
}

/// GitHub's anchor for a heading: lower case, only letters, digits, `-` and `_` kept, spaces to
/// `-`; repeated headings get `-1`, `-2`, … appended.
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for (_, line) in prose_lines_keeping_code(text) {
        let trimmed = line.trim_start();
        let level = trimmed.chars().take_while(|&c| c == '#').count();
        if level == 0 || level > 6 || !trimmed[level..].starts_with(' ') {
            continue;
        }
        let title = trimmed[level..].trim().trim_end_matches('#').trim();
        let slug: String = title
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let mut candidate = slug.clone();
        let mut n = 0;
        while seen.contains(&candidate) {
            n += 1;
            candidate = format!("{slug}-{n}");
        }
        seen.insert(candidate);
    }
    seen
}

/// Like `prose_lines`, but inline code kept (heading text keeps its code words).
fn prose_lines_keeping_code(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fence: Option<&str> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(open), Some(m)) if open == m => fence = None,
            (None, None) => out.push((i + 1, line.to_string())),
            _ => {}
        }
    }
    out
}

/// `path` with `.` and `..` resolved lexically; `None` if it climbs above the filesystem root.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            other => out.push(other),
        }
    }
    Some(out)
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn relative_links_resolve_inside_the_repository() {
    let root = root();
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files(&root) {
        let text = fs::read_to_string(&file).expect("read a Markdown file");
        let dir = file.parent().expect("a file has a directory");
        for (line_no, line) in prose_lines(&text) {
            for target in link_targets(&line) {
                if target.is_empty() || is_external(&target) {
                    continue;
                }
                checked += 1;
                let (path_part, anchor) = match target.split_once('#') {
                    Some((p, a)) => (p, Some(a)),
                    None => (target.as_str(), None),
                };
                let where_ = format!("{}:{line_no}: {target}", relative(&root, &file));
                let resolved = if path_part.is_empty() {
                    Some(file.clone())
                } else {
                    normalise(&dir.join(path_part))
                };
                let Some(resolved) = resolved.filter(|p| p.starts_with(&root)) else {
                    broken.push(format!("{where_} (points outside the repository)"));
                    continue;
                };
                if !resolved.exists() {
                    broken.push(format!("{where_} (no such file)"));
                    continue;
                }
                if let Some(anchor) = anchor.filter(|a| !a.is_empty())
                    && resolved.extension().is_some_and(|e| e == "md")
                {
                    let target_text = fs::read_to_string(&resolved).expect("read the link target");
                    if !anchors(&target_text).contains(anchor) {
                        broken.push(format!("{where_} (no heading with that anchor)"));
                    }
                }
            }
        }
    }
    assert!(checked > 0, "no relative links found: is the scan broken?");
    assert!(
        broken.is_empty(),
        "broken relative links:\n{}",
        broken.join("\n")
    );
}

#[test]
fn no_page_points_to_notes_outside_the_repository() {
    let root = root();
    // Spelled in two pieces so this file does not match its own search.
    let outside = ["..", "/shared"].concat();
    let offenders: Vec<String> = markdown_files(&root)
        .into_iter()
        .filter(|f| {
            fs::read_to_string(f)
                .expect("read a Markdown file")
                .contains(&outside)
        })
        .map(|f| relative(&root, &f))
        .collect();
    assert!(
        offenders.is_empty(),
        "these pages refer to {outside}, which a clone does not have: {offenders:?}"
    );
}

/// Positions of "issue" + space + digit (any case): how work items were referenced.
fn work_item_mentions(text: &str) -> Vec<usize> {
    let lower = text.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let word = b"issue ";
    let mut hits = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find("issue ") {
        let start = from + at;
        let digit = bytes
            .get(start + word.len())
            .is_some_and(u8::is_ascii_digit);
        let word_start = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        if digit && word_start {
            hits.push(lower[..start].matches('\n').count() + 1);
        }
        from = start + word.len();
    }
    hits
}

#[test]
fn no_file_names_a_work_item() {
    let root = root();
    let mut offenders = Vec::new();
    walk(&root, &mut |path| {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let scanned = matches!(
            ext,
            "rs" | "toml" | "yaml" | "yml" | "md" | "sh" | "go" | "mod"
        ) || matches!(name, "justfile" | "Containerfile" | "run");
        if !scanned {
            return;
        }
        let Ok(text) = fs::read_to_string(path) else {
            return;
        };
        for line in work_item_mentions(&text) {
            offenders.push(format!("{}:{line}", relative(&root, path)));
        }
    });
    assert!(
        offenders.is_empty(),
        "internal work items are named (say what the code does instead):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_scanners_read_markdown_as_github_does() {
    assert_eq!(
        link_targets("see [a](docs/a.md#x \"t\"), ![i](<img b.png>) and [u](https://x.y)"),
        ["docs/a.md#x", "img b.png", "https://x.y"]
    );
    assert_eq!(link_targets("[label]: ../x.md"), ["../x.md"]);
    let prose = prose_lines("a `[x](nope.md)` b\n```\n[y](nope.md)\n```\n[z](yes.md)\n");
    let found: Vec<String> = prose.iter().flat_map(|(_, l)| link_targets(l)).collect();
    assert_eq!(found, ["yes.md"]);
    let a =
        anchors("# The `kube-system/acr-configuration` map\n## NS — watching\n## NS — watching\n");
    for expected in [
        "the-kube-systemacr-configuration-map",
        "ns--watching",
        "ns--watching-1",
    ] {
        assert!(a.contains(expected), "{expected} missing from {a:?}");
    }
    let issue_word = ["iss", "ue"].concat();
    assert_eq!(
        work_item_mentions(&format!("ok\nsee {issue_word} 12\nre{issue_word} 3\n")),
        [2]
    );
}
