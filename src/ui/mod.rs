//! The full-screen live view.

use crate::app::AppError;
use crate::cli::Cli;

pub async fn run(_cli: Cli) -> Result<(), AppError> {
    Err(AppError::Usage(
        "the live view is not available in this build yet; use --once".into(),
    ))
}
