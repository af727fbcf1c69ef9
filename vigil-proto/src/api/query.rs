//! List-valued query parameters (spec api.md §4.5): `names`, `services`,
//! `keys` and `types` accept both `names=a,b` and `names=a&names=b`.
//!
//! Decoding the query string itself (percent-escapes, `+` as a space) is the
//! HTTP layer's; this module works on the decoded values.

/// Joins every occurrence of a list parameter into one list: each value is
/// split at commas, entries are trimmed and empty ones dropped. An empty
/// result means "all".
#[must_use]
pub fn split_list<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    values
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_list_forms_and_their_mix() {
        assert_eq!(split_list(["a,b"]), ["a", "b"]);
        assert_eq!(split_list(["a", "b"]), ["a", "b"]);
        assert_eq!(split_list(["a, b", " c ,", ""]), ["a", "b", "c"]);
        assert!(split_list([]).is_empty());
        assert!(split_list([" , ,"]).is_empty());
    }
}
