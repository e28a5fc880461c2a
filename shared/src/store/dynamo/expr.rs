//! The update-expression builder every profile write goes through, and the
//! expression of a counted failure. Attribute names are written `#name` and
//! mapped to `name`, so no reserved word can bite; values `:v` are passed only
//! when an expression uses them (DynamoDB refuses unused ones).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue as Av;

use super::schema::{n, CNT, LAST, WIN};
use crate::domain::{SendWindow, Tally};

/// An update expression with its placeholders. Attribute names are written `#name`
/// in the expressions and mapped to `name`, so no reserved word can bite.
#[derive(Default)]
pub(super) struct Expr {
    pub(super) update: Vec<String>,
    pub(super) add: Vec<String>,
    remove: Vec<String>,
    delete: Vec<String>,
    cond: Vec<String>,
    values: HashMap<String, Av>,
}

impl Expr {
    pub(super) fn set(mut self, e: impl Into<String>) -> Self {
        self.update.push(e.into());
        self
    }
    pub(super) fn add(mut self, e: impl Into<String>) -> Self {
        self.add.push(e.into());
        self
    }
    pub(super) fn remove(mut self, e: impl Into<String>) -> Self {
        self.remove.push(e.into());
        self
    }
    /// Take members out of a set (`#codes :d`).
    pub(super) fn delete(mut self, e: impl Into<String>) -> Self {
        self.delete.push(e.into());
        self
    }
    pub(super) fn when(mut self, e: impl Into<String>) -> Self {
        self.cond.push(e.into());
        self
    }
    pub(super) fn val(mut self, k: &str, v: Av) -> Self {
        self.values.insert(k.to_owned(), v);
        self
    }

    pub(super) fn update_expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.update.is_empty() {
            parts.push(format!("SET {}", self.update.join(", ")));
        }
        if !self.add.is_empty() {
            parts.push(format!("ADD {}", self.add.join(", ")));
        }
        if !self.remove.is_empty() {
            parts.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        if !self.delete.is_empty() {
            parts.push(format!("DELETE {}", self.delete.join(", ")));
        }
        parts.join(" ")
    }

    pub(super) fn condition(&self) -> String {
        self.cond
            .iter()
            .map(|c| format!("({c})"))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The placeholder values the expressions use (DynamoDB refuses unused ones).
    pub(super) fn used_values(&self) -> HashMap<String, Av> {
        let text = format!("{} {}", self.update_expression(), self.condition());
        self.values
            .iter()
            .filter(|(k, _)| {
                text.match_indices(k.as_str()).any(|(i, _)| {
                    let next = text.as_bytes().get(i + k.len());
                    !matches!(next, Some(b) if b.is_ascii_alphanumeric() || *b == b'_')
                })
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub(super) fn names(&self) -> HashMap<String, String> {
        let mut names = HashMap::new();
        let all = [self.update_expression(), self.condition()];
        for text in &all {
            let bytes = text.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'#' {
                    let start = i + 1;
                    let mut end = start;
                    while end < bytes.len()
                        && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_')
                    {
                        end += 1;
                    }
                    let name = &text[start..end];
                    names.insert(format!("#{name}"), name.to_owned());
                    i = end;
                } else {
                    i += 1;
                }
            }
        }
        names
    }
}

/// Count one more failure on the counter `#{c}_win` / `#{c}_cnt` / `#{c}_last`,
/// asserting the window and the side of the limit that `t` expects.
pub(super) fn tally(e: Expr, c: &str, t: &Tally) -> Expr {
    let e = e
        .set(format!("#{c}_{LAST} = :tnow"))
        .val(":tnow", n(t.now))
        .val(":tone", n(1))
        .val(":twcut", n(t.window_cut));
    match t.window {
        SendWindow::Current => {
            let e = e
                .add(format!("#{c}_{CNT} :tone"))
                .when(format!("#{c}_{WIN} > :twcut"))
                .val(":tlim1", n(t.limit.saturating_sub(1)));
            if t.reaches {
                e.when(format!("#{c}_{CNT} = :tlim1"))
            } else {
                e.when(format!("#{c}_{CNT} <> :tlim1"))
            }
        }
        SendWindow::Fresh => e
            .set(format!("#{c}_{WIN} = :tnow"))
            .set(format!("#{c}_{CNT} = :tone"))
            .when(format!(
                "attribute_not_exists(#{c}_{WIN}) OR #{c}_{WIN} <= :twcut"
            )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_name_every_attribute_and_join_clauses() {
        let e = Expr::default()
            .set("#a = :x")
            .add("#b_c :one")
            .remove("#d")
            .when("#a <= :x")
            .when("attribute_exists(pk)");
        assert_eq!(e.update_expression(), "SET #a = :x ADD #b_c :one REMOVE #d");
        assert_eq!(e.condition(), "(#a <= :x) AND (attribute_exists(pk))");
        let names = e.names();
        assert_eq!(names.len(), 3);
        assert_eq!(names.get("#b_c").map(String::as_str), Some("b_c"));
    }
}
