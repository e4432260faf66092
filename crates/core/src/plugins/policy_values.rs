//! Policy values stay satisfiable: no password policy (the server's or an account policy
//! group's) may ask for more characters than a password may have, or nobody could set one.

use crate::Result;
use crate::credential::MAX_PASSWORD_CHARS;
use crate::entry::Entry;
use crate::value::Value;
use idm_proto::{OperationError, SchemaError};

pub(crate) fn check<'e>(entries: impl Iterator<Item = &'e Entry>) -> Result<()> {
    for e in entries {
        if let Some(Value::Uint32(n)) = e.first("password_min_length")
            && *n > MAX_PASSWORD_CHARS
        {
            return Err(OperationError::SchemaViolation(SchemaError::InvalidAttributeSyntax {
                attr: "password_min_length".into(),
                value: n.to_string(),
                reason: format!(
                    "a password has at most {MAX_PASSWORD_CHARS} characters, so no policy may ask for more"
                ),
            }));
        }
    }
    Ok(())
}
