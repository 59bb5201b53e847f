//! Who acted on a run by hand (approved a step, canceled or rescheduled the run) and why. It is
//! kept in the run's log as fields of the event, shown by `status` and sent with notifications;
//! the commands resolve who it is (`--by`, else the OS user).

use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub by: String,
    pub reason: Option<String>,
}

impl Operator {
    /// The fields this adds to an event of the run's log or a notification: `by`, and `reason`
    /// when one was given.
    #[must_use]
    pub fn fields(&self) -> Value {
        let mut fields = json!({ "by": self.by });
        if let Some(reason) = &self.reason {
            fields["reason"] = reason.as_str().into();
        }
        fields
    }

    /// Adds [`Self::fields`] to the object `detail`.
    pub fn add_to(&self, detail: &mut Value) {
        if let (Some(detail), Value::Object(fields)) = (detail.as_object_mut(), self.fields()) {
            detail.extend(fields);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_carry_who_and_why_given() {
        let cases = [
            (
                Operator {
                    by: "alice".into(),
                    reason: None,
                },
                json!({ "by": "alice" }),
            ),
            (
                Operator {
                    by: "bob".into(),
                    reason: Some("sign-off moved".into()),
                },
                json!({ "by": "bob", "reason": "sign-off moved" }),
            ),
        ];
        for (operator, expected) in cases {
            assert_eq!(operator.fields(), expected);
            let mut detail = json!({ "message": "canceled" });
            operator.add_to(&mut detail);
            let mut with = expected.clone();
            with["message"] = "canceled".into();
            assert_eq!(detail, with);
        }
    }
}
