//! The one error type that reaches the user: a line on stderr and an exit code.

/// A failure the user must see: one line on stderr and an exit code.
#[derive(Debug)]
pub enum AppError {
    /// Wrong options (exit 2).
    Usage(String),
    /// The firewall, a file or the terminal said no (exit 1).
    Runtime(String),
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Usage(_) => 2,
            AppError::Runtime(_) => 1,
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Usage(m) | AppError::Runtime(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for AppError {}
