//! Kubernetes name rules (apimachinery `validation.IsDNS1123Label` / `IsDNS1123Subdomain`).

/// The rule text for namespace names, for messages.
pub(super) const LABEL_RULE: &str =
    "DNS-1123 label: at most 63 of a-z, 0-9 and '-', starting and ending alphanumeric";
/// The rule text for ServiceAccount names, for messages.
pub(super) const SUBDOMAIN_RULE: &str = "DNS-1123 subdomain: at most 253 of a-z, 0-9, '-' and '.', labels starting and ending alphanumeric";

/// Whether `name` is a DNS-1123 label (namespace names).
pub fn is_dns1123_label(name: &str) -> bool {
    name.len() <= 63 && label_chars_ok(name)
}

/// Whether `name` is a DNS-1123 subdomain (ServiceAccount names).
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(label_chars_ok)
}

fn label_chars_ok(label: &str) -> bool {
    let bytes = label.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            alnum(first) && alnum(last) && bytes.iter().all(|b| alnum(b) || *b == b'-')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        assert!(is_dns1123_label("default"));
        assert!(is_dns1123_label("a-1"));
        assert!(!is_dns1123_label("Default"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label("a."));
        assert!(!is_dns1123_label(""));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(is_dns1123_subdomain("my.sa-1"));
        assert!(!is_dns1123_subdomain("my..sa"));
        assert!(!is_dns1123_subdomain("*"));
    }
}
