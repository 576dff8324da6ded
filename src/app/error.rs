//! The use-case layer's one error type.

use crate::domain::Violation;
use crate::domain::review::Refusal;
use crate::store::StoreError;

/// Why a use case did not complete.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input breaks a rule; every broken rule is listed.
    #[error("données invalides")]
    Invalid(Vec<Violation>),
    /// The transition is not possible from the current state.
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// The action conflicts with the current state of something other than a review.
    #[error("{0}")]
    Conflict(String),
    /// Unknown, or not visible to this actor (the two are indistinguishable on purpose).
    #[error("{0}")]
    NotFound(String),
    /// The actor's role may never do this.
    #[error("{0}")]
    Forbidden(String),
    /// A dependency (the store) is unavailable for now.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of ours; logged, never shown.
    #[error("erreur interne : {0}")]
    Internal(String),
}

impl AppError {
    /// A single-field validation error.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::Invalid(vec![Violation::new(field, message)])
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => AppError::Unavailable(m),
            StoreError::Conflict(m) => AppError::Conflict(format!(
                "Une autre opération a modifié cet élément au même moment ({m}) : rechargez et réessayez."
            )),
            StoreError::Other(m) => AppError::Internal(m),
        }
    }
}

impl From<crate::domain::access::Denied> for AppError {
    fn from(d: crate::domain::access::Denied) -> Self {
        AppError::Forbidden(d.0.to_owned())
    }
}

/// Result of a use case.
pub type AppResult<T> = Result<T, AppError>;
