//! Lenient field access on `serde_json::Value`: dotted paths, numbers as strings and back.

use serde_json::Value;

use super::IntakeError;

/// A JSON type's name, for error messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value at a dotted path (`detail.resource.instanceDetails`), if every step exists.
pub(crate) fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |node, key| node.get(key))
}

/// `base.path` for error messages; `base` may be empty.
pub(crate) fn join(base: &str, path: &str) -> String {
    if base.is_empty() {
        path.to_owned()
    } else {
        format!("{base}.{path}")
    }
}

/// A text field that may arrive as a string or a number; missing and null are `None`,
/// an empty or blank string too.
pub(crate) fn text(value: &Value, path: &str) -> Result<Option<String>, IntakeError> {
    text_in(value, "", path)
}

/// Like [`text`], with `base` naming where `value` sits in the event.
pub(crate) fn text_in(value: &Value, base: &str, path: &str) -> Result<Option<String>, IntakeError> {
    match at(value, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(IntakeError::WrongType {
            path: join(base, path),
            expected: "a string",
            found: type_name(other),
        }),
    }
}

/// A required text field.
pub(crate) fn required_text(value: &Value, base: &str, path: &str) -> Result<String, IntakeError> {
    text_in(value, base, path)?.ok_or_else(|| IntakeError::Missing { path: join(base, path) })
}

/// An object field; missing and null are `None`, anything else but an object is an error.
pub(crate) fn object<'a>(value: &'a Value, base: &str, path: &str) -> Result<Option<&'a Value>, IntakeError> {
    match at(value, path) {
        None | Some(Value::Null) => Ok(None),
        Some(found @ Value::Object(_)) => Ok(Some(found)),
        Some(other) => Err(IntakeError::WrongType {
            path: join(base, path),
            expected: "an object",
            found: type_name(other),
        }),
    }
}

/// A number that may arrive as a JSON number or a numeric string (`8`, `8.0`, `"5.0"`).
pub(crate) fn number(value: &Value, base: &str, path: &str) -> Result<Option<f64>, IntakeError> {
    let wrong = |found| IntakeError::WrongType {
        path: join(base, path),
        expected: "a number",
        found,
    };
    match at(value, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or_else(|| wrong("a number out of range")),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Some)
            .ok_or_else(|| wrong("a string that is not a number")),
        Some(other) => Err(wrong(type_name(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_in_any_dress() {
        let v = json!({"a": 8, "b": 8.5, "c": " 5.0 ", "d": "high", "e": null, "f": [1]});
        assert_eq!(number(&v, "", "a"), Ok(Some(8.0)));
        assert_eq!(number(&v, "", "b"), Ok(Some(8.5)));
        assert_eq!(number(&v, "", "c"), Ok(Some(5.0)));
        assert_eq!(number(&v, "", "e"), Ok(None));
        assert_eq!(number(&v, "", "missing"), Ok(None));
        assert!(matches!(number(&v, "detail", "d"), Err(IntakeError::WrongType { path, .. }) if path == "detail.d"));
        assert!(matches!(
            number(&v, "", "f"),
            Err(IntakeError::WrongType { found: "an array", .. })
        ));
        assert!(number(&json!({"n": "NaN"}), "", "n").is_err());
    }

    #[test]
    fn text_accepts_numbers_and_drops_blanks() {
        let v = json!({"account": 123_456_789_012_u64, "s": "x", "blank": "  ", "o": {}});
        assert_eq!(text(&v, "account"), Ok(Some("123456789012".to_owned())));
        assert_eq!(text(&v, "s"), Ok(Some("x".to_owned())));
        assert_eq!(text(&v, "blank"), Ok(None));
        assert!(matches!(
            text(&v, "o"),
            Err(IntakeError::WrongType {
                expected: "a string",
                ..
            })
        ));
    }

    #[test]
    fn paths_walk_objects_only() {
        let v = json!({"a": {"b": {"c": 1}}, "l": [1]});
        assert_eq!(at(&v, "a.b.c"), Some(&json!(1)));
        assert_eq!(at(&v, "a.x.c"), None);
        assert_eq!(at(&v, "l.0"), None);
    }
}
