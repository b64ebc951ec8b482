//! Questions a server asks the user (a form elicitation), answered on the terminal: one
//! line per field of the form's flat schema, typed as the schema says. Without a
//! terminal on stdin nothing is asked and the question is declined.

use std::io::{BufRead, IsTerminal, Write};

use serde_json::{json, Map, Value};

/// Asks `message` and the fields of `schema` (`{type: object, properties, required}`)
/// on the terminal; the form's `content`, or `None` (declined) when stdin is not a
/// terminal, input ends, or a required field is left empty.
pub fn ask_form(message: &str, schema: Option<&Value>) -> Option<Value> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return None;
    }
    let props = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let required: Vec<&str> = schema
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut err = std::io::stderr();
    let _ = writeln!(
        err,
        "the server asks: {message} (empty required field: decline)"
    );
    let mut content = Map::new();
    let mut lines = stdin.lock();
    for (name, field) in &props {
        let kind = field
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("string");
        let _ = write!(err, "  {name} ({kind}): ");
        let _ = err.flush();
        let mut line = String::new();
        if lines.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let text = line.trim();
        if text.is_empty() {
            if required.contains(&name.as_str()) {
                return None;
            }
            continue;
        }
        content.insert(name.clone(), typed(kind, text)?);
    }
    Some(Value::Object(content))
}

/// A field's text as the schema's type (`None` when it does not parse).
fn typed(kind: &str, text: &str) -> Option<Value> {
    match kind {
        "integer" => text.parse::<i64>().ok().map(|n| json!(n)),
        "number" => text.parse::<f64>().ok().map(|n| json!(n)),
        "boolean" => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" => Some(json!(true)),
            "false" | "no" | "n" => Some(json!(false)),
            _ => None,
        },
        _ => Some(json!(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_take_the_schema_type() {
        assert_eq!(typed("integer", "42"), Some(json!(42)));
        assert_eq!(typed("integer", "4.2"), None);
        assert_eq!(typed("boolean", "Yes"), Some(json!(true)));
        assert_eq!(typed("boolean", "maybe"), None);
        assert_eq!(typed("string", "Ada"), Some(json!("Ada")));
    }
}
