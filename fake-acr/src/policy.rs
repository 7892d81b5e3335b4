//! RAM policy evaluation: may this principal call this action?

use crate::settings::Policy;

/// `*` matches any run of characters (also empty); everything else literally, case-sensitively
/// except that RAM action names compare case-insensitively.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.to_ascii_lowercase(), text.to_ascii_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == t;
    }
    let mut rest = t.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Whether `principal` may perform `action` (e.g. `cr:GetAuthorizationToken`): the first policy
/// whose principal pattern matches decides; no matching policy denies.
pub fn allows(policies: &[Policy], principal: &str, action: &str) -> bool {
    policies
        .iter()
        .find(|p| wildcard_match(&p.principal, principal))
        .is_some_and(|p| p.actions.iter().any(|a| wildcard_match(a, action)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("cr:Get*", "cr:GetAuthorizationToken"));
        assert!(wildcard_match("cr:*Token", "cr:GetAuthorizationToken"));
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("cr:pullrepository", "cr:PullRepository"));
        assert!(!wildcard_match("cr:List*", "cr:GetAuthorizationToken"));
        assert!(!wildcard_match("cr:Get", "cr:GetX"));
    }

    #[test]
    fn first_matching_principal_decides() {
        let policies = vec![
            Policy {
                principal: "role/no-pull".into(),
                actions: vec!["cr:Get*".into()],
            },
            Policy {
                principal: "*".into(),
                actions: vec!["cr:*".into()],
            },
        ];
        assert!(allows(
            &policies,
            "role/no-pull",
            "cr:GetAuthorizationToken"
        ));
        assert!(!allows(&policies, "role/no-pull", "cr:PullRepository"));
        assert!(allows(&policies, "user/ci", "cr:PullRepository"));
        assert!(!allows(&[], "user/ci", "cr:ListInstance"));
    }
}
