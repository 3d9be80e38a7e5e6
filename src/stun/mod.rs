//! STUN placeholder (being built).
/// STUN error placeholder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Placeholder.
    #[error("x")]
    X,
}
