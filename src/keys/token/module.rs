//! Loading a PKCS#11 module: where a `module-name` is looked up, and the process-wide context
//! each module gets (loaded and initialised once, shared by every key it serves).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};

use super::TokenError;
use crate::keys::uri::ModuleRef;

/// The directories `module-name` is looked up in, in order: p11-kit's module directory, the
/// multiarch library directory, and the plain ones.
pub(super) fn module_dirs() -> Vec<PathBuf> {
    let triplet = if cfg!(target_arch = "x86_64") {
        "x86_64-linux-gnu"
    } else if cfg!(target_arch = "aarch64") {
        "aarch64-linux-gnu"
    } else if cfg!(target_arch = "arm") {
        "arm-linux-gnueabihf"
    } else {
        ""
    };
    let mut dirs = Vec::new();
    if !triplet.is_empty() {
        dirs.push(PathBuf::from(format!("/usr/lib/{triplet}/pkcs11")));
        dirs.push(PathBuf::from(format!("/usr/lib/{triplet}")));
        dirs.push(PathBuf::from(format!("/usr/lib/{triplet}/softhsm")));
    }
    for d in [
        "/usr/lib/pkcs11",
        "/usr/lib",
        "/usr/lib/softhsm",
        "/usr/local/lib",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

pub(super) fn resolve_module(module: &ModuleRef) -> Result<PathBuf, TokenError> {
    match module {
        ModuleRef::Path(path) => Ok(path.clone()),
        ModuleRef::Name(name) => {
            let file = if name.contains(".so") {
                name.clone()
            } else {
                format!("{name}.so")
            };
            let dirs = module_dirs();
            dirs.iter()
                .map(|d| d.join(&file))
                .find(|p| p.is_file())
                .ok_or_else(|| TokenError::ModuleNotFound {
                    name: name.clone(),
                    looked: dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        }
    }
}

/// The process-wide context of `module`: loaded and initialised once, then shared.
pub(super) fn context(module: &Path) -> Result<Pkcs11, TokenError> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let fail = |detail: String| TokenError::Module {
        path: module.to_owned(),
        detail,
    };
    let key = std::fs::canonicalize(module).map_err(|e| fail(e.to_string()))?;
    let mut contexts = CONTEXTS
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| fail("module registry lock poisoned".to_owned()))?;
    if let Some(ctx) = contexts.get(&key) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(&key).map_err(|e| fail(format!("cannot load: {e}")))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(fail(format!("C_Initialize: {e}"))),
    }
    contexts.insert(key, ctx.clone());
    Ok(ctx)
}
