/// Why a payload could not be decoded. The message is meant for the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not valid protobuf for the expected message.
    #[error("invalid protobuf: {0}")]
    Protobuf(String),
    /// Not valid JSON, or JSON of the wrong shape.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// Well-formed but semantically invalid (bad ID length, bad enum, …).
    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: String },
}

impl DecodeError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        DecodeError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
