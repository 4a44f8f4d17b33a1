//! Logging in to a token with the PIN the URI names (`pin-value` or `pin-source`).

use std::io::Read;

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

use super::TokenError;
use crate::keys::uri::PinRef;

/// The PIN file's first line; capped, since it is only a PIN.
pub(super) fn read_pin(pin: &PinRef) -> Result<String, TokenError> {
    match pin {
        PinRef::Value(v) => Ok(v.clone()),
        PinRef::File(path) => {
            let fail = |detail: String| TokenError::PinFile {
                path: path.clone(),
                detail,
            };
            let mut text = String::new();
            std::fs::File::open(path)
                .map_err(|e| fail(e.to_string()))?
                .take(1024)
                .read_to_string(&mut text)
                .map_err(|e| fail(e.to_string()))?;
            let line = text
                .lines()
                .next()
                .unwrap_or_default()
                .trim_end_matches('\r');
            if line.is_empty() {
                return Err(fail("the file holds no PIN".to_owned()));
            }
            Ok(line.to_owned())
        }
    }
}

pub(super) fn login(session: &Session, pin: &PinRef, token: &str) -> Result<(), TokenError> {
    let pin = AuthPin::from(read_pin(pin)?);
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(e) => Err(TokenError::Login {
            token: token.to_owned(),
            detail: match e {
                CkError::Pkcs11(RvError::PinIncorrect, _) => "the PIN is wrong".to_owned(),
                CkError::Pkcs11(RvError::PinLocked, _) => "the PIN is locked".to_owned(),
                other => other.to_string(),
            },
        }),
    }
}
