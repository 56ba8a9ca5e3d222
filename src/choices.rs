//! The choices among values that the options make and output code reads: the format of
//! `--once` and of exports, and what `--once` prints (`--view`). Plain data, here so that
//! the output layer reads them without importing the options (clap's value names and the
//! config file's spellings come from the same enums).

/// `--format`, the config file's `export_format`: the text tree, JSON or an SVG picture.
/// The SVG picture is drawn by the live view's render code (`crate::ui::export`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    Json,
    Svg,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Text => "txt",
            Format::Json => "json",
            Format::Svg => "svg",
        }
    }
}

/// `--view`: the chain tree, kube-proxy's Services, or the path hook by hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum View {
    Tree,
    Services,
    Path,
}
