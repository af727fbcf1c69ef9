//! "Did you mean" suggestions for unknown keys, values and names.

/// The candidate to suggest for an unknown `word` (spec layers.md §11.2):
/// one equal to it after lower-casing and turning `_` into `-`, else the
/// nearest by edit distance if it is at most 2 edits away (1 for words of four
/// characters or fewer). Ties go to the alphabetically first candidate.
pub(crate) fn suggestion<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let normalised = word.to_lowercase().replace('_', "-");
    if let Some(exact) = candidates.iter().find(|c| **c == normalised) {
        return Some(exact);
    }
    let limit = if word.chars().count() <= 4 { 1 } else { 2 };
    candidates
        .iter()
        .map(|candidate| (edit_distance(word, candidate), *candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, candidate)| candidate)
}

/// `; did you mean "x"?` for [`suggestion`], or nothing.
pub(crate) fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    match suggestion(word, candidates) {
        Some(best) => format!("; did you mean \"{best}\"?"),
        None => String::new(),
    }
}

/// The Levenshtein distance between two strings, counted in characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // previous[j] is the distance between the first i - 1 characters of `a`
    // and the first j characters of `b`.
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            let deletion = previous[j + 1] + 1;
            let insertion = current[j] + 1;
            current.push(substitution.min(deletion).min(insertion));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_characters() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("SIGTERM", "SIGTERM"), 0);
        assert_eq!(edit_distance("SIGTREM", "SIGTERM"), 2);
        assert_eq!(edit_distance("SIGTERMM", "SIGTERM"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("\u{b5}", "u"), 1);
    }

    #[test]
    fn suggestions_follow_the_rules() {
        let keys = [
            "kill-delay",
            "send-info-fields",
            "stop-signal",
            "url",
            "user",
        ];
        assert_eq!(
            suggestion("send_info_fields", &keys),
            Some("send-info-fields")
        );
        assert_eq!(suggestion("Kill_Delay", &keys), Some("kill-delay"));
        assert_eq!(suggestion("stop-signl", &keys), Some("stop-signal"));
        // Short words get one edit at most.
        assert_eq!(suggestion("usr", &keys), Some("user"));
        assert_eq!(suggestion("uxx", &keys), None);
        assert_eq!(suggestion("nothing-like-it", &keys), None);
        // Ties go to the alphabetically first.
        assert_eq!(suggestion("urer", &["user", "urel"]), Some("urel"));
    }
}
