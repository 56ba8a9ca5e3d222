//! The config file: defaults for options, which flags override.
//!
//! `--config FILE`, else `$XDG_CONFIG_HOME/iptop/config.toml` (`~/.config/...` when
//! unset) and, under sudo, also the invoking user's (`SUDO_USER`), whose keys win. A
//! missing default file is silent; a bad one stops iptop with one line naming the key.
//! Under sudo another user's file is read only when it is a regular file owned by that
//! user or root and not writable by group or others, walked to from `/` through their
//! or root's directories ([`crate::files::open_owned`]); `sudo -E`'s HOME counts as theirs.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag};

use crate::cells::ColumnSet;
use crate::cli::{Cli, ColorWhen, Format, ThemeName};
use crate::error::AppError;

/// Keys a config file may hold.
pub const KEYS: [&str; 10] = [
    "interval",
    "tables",
    "theme",
    "color",
    "ascii",
    "columns",
    "export_dir",
    "export_format",
    "docker_host",
    "timeout",
];

/// A config file larger than this is not one.
const MAX_SIZE: u64 = 1 << 20;

/// Parses the command line (clap prints usage errors and exits, as `Cli::parse` does),
/// then fills what was not given from the config file.
pub fn cli_from_args<I, T>(args: I) -> Result<Cli, AppError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut cli = Cli::parse_args(args).unwrap_or_else(|e| e.exit());
    if cli.man || cli.completions.is_some() {
        return Ok(cli);
    }
    for (path, text) in files(&cli)? {
        apply(&mut cli, &path, &text).map_err(AppError::Usage)?;
    }
    Ok(cli)
}

/// The config files to read, in order (later ones win), with their text.
fn files(cli: &Cli) -> Result<Vec<(PathBuf, String)>, AppError> {
    if let Some(p) = &cli.config {
        let text = read(p, None).map_err(|e| {
            AppError::Usage(format!("cannot read the config file {}: {e}", p.display()))
        })?;
        return Ok(vec![(p.clone(), text.unwrap_or_default())]);
    }
    let mut out = Vec::new();
    let me = nix::unistd::geteuid();
    // under sudo: the invoking user (`sudo -E` keeps their HOME; it may hold their file)
    let sudo_uid = crate::files::invoking_uid();
    let own = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("iptop/config.toml"));
    let owners: Vec<u32> = std::iter::once(me.as_raw()).chain(sudo_uid).collect();
    if let Some(p) = &own
        && let Some(t) = read(p, Some(&owners)).map_err(|e| bad_file(p, &e))?
    {
        out.push((p.clone(), t));
    }
    // under sudo: the invoking user's file too (their XDG_CONFIG_HOME is not known)
    if me.is_root()
        && let Some(name) = std::env::var_os("SUDO_USER")
        && let Some(name) = name.to_str()
        && name != "root"
        && let Ok(Some(user)) = nix::unistd::User::from_name(name)
    {
        let p = user.dir.join(".config/iptop/config.toml");
        if Some(&p) != own.as_ref()
            && let Some(t) = read(&p, Some(&[user.uid.as_raw()])).map_err(|e| bad_file(&p, &e))?
        {
            out.push((p, t));
        }
    }
    Ok(out)
}

fn bad_file(p: &Path, e: &str) -> AppError {
    AppError::Usage(format!("config file {}: {e}", p.display()))
}

/// Reads a config file: None when it does not exist. With `owners` (a default file),
/// it is opened as [`crate::files::open_owned`] walks to it: every directory on the way
/// and the file owned by one of them or root, not writable by group or others; as
/// root, never through a link at its end, and never a device or FIFO.
fn read(path: &Path, owners: Option<&[u32]>) -> Result<Option<String>, String> {
    let file = match owners {
        Some(owners) => {
            let as_root = nix::unistd::geteuid().is_root();
            match crate::files::open_owned(path, owners, !as_root)? {
                Some(f) => f,
                None => return Ok(None),
            }
        }
        None => std::fs::File::from(
            nix::fcntl::open(
                path,
                OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| std::io::Error::from(e).to_string())?,
        ),
    };
    let st = nix::sys::stat::fstat(&file).map_err(|e| e.to_string())?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Err("not a regular file".into());
    }
    if let Some(owners) = owners {
        if st.st_uid != 0 && !owners.contains(&st.st_uid) {
            return Err(format!(
                "owned by uid {}, not by uid {} or root: not read",
                st.st_uid,
                owners
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(" or uid ")
            ));
        }
        if st.st_mode & 0o022 != 0 {
            return Err(format!(
                "writable by group or others (mode {:o}): not read; chmod go-w it",
                st.st_mode & 0o7777
            ));
        }
    }
    if st.st_size as u64 > MAX_SIZE {
        return Err("larger than 1 MiB: not a config file".into());
    }
    let mut text = String::new();
    file.take(MAX_SIZE)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    Ok(Some(text))
}

/// A config file: every key optional, an unknown key an error (the names are [`KEYS`]).
/// Choices clap knows (theme, color, export format) deserialize into clap's own enums;
/// the others are checked by the same parsers the flags use.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default, deserialize_with = "interval")]
    interval: Option<std::time::Duration>,
    #[serde(default, deserialize_with = "duration")]
    timeout: Option<std::time::Duration>,
    #[serde(default, deserialize_with = "tables")]
    tables: Option<Vec<String>>,
    theme: Option<ThemeName>,
    color: Option<ColorWhen>,
    ascii: Option<bool>,
    /// The columns shown (bit i: `crate::cells::COLUMNS[i]`).
    #[serde(default, deserialize_with = "columns")]
    columns: Option<u32>,
    #[serde(default, deserialize_with = "non_empty")]
    export_dir: Option<String>,
    export_format: Option<Format>,
    docker_host: Option<String>,
}

/// A string or a list of strings.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

fn checked<'de, D, T>(
    d: D,
    check: impl FnOnce(String) -> Result<T, String>,
) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize as _;
    let s = String::deserialize(d)?;
    check(s).map(Some).map_err(serde::de::Error::custom)
}

fn interval<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::time::Duration>, D::Error> {
    checked(d, |s| crate::cli::parse_interval(&s))
}

fn duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::time::Duration>, D::Error> {
    checked(d, |s| crate::cli::parse_duration(&s))
}

fn non_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, |s| {
        if s.is_empty() {
            Err("must not be empty".to_string())
        } else {
            Ok(s)
        }
    })
}

fn list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    use serde::Deserialize as _;
    Ok(
        match OneOrMany::deserialize(d)
            .map_err(|_| serde::de::Error::custom("must be a string or a list of strings"))?
        {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        },
    )
}

fn tables<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let list = list(d)?;
    for t in &list {
        crate::cli::parse_table_arg(t).map_err(serde::de::Error::custom)?;
    }
    Ok(Some(list))
}

fn columns<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    ColumnSet::mask_of(&list(d)?)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Applies a config file's keys to what the command line left at its defaults. The
/// error is one line: the file, the line, the key and what is wrong with it.
pub fn apply(cli: &mut Cli, path: &Path, text: &str) -> Result<(), String> {
    let file: ConfigFile = toml::from_str(text).map_err(|e: toml::de::Error| {
        let msg = e.message().lines().next().unwrap_or("not TOML");
        let Some(span) = e.span() else {
            return format!("config file {}: {msg}", path.display());
        };
        let before = text.get(..span.start).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        // the key the error is about: the one its line starts with
        let start = before.rfind('\n').map_or(0, |i| i + 1);
        let key = text[start..]
            .split(['=', '\n'])
            .next()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        match key {
            Some(k) => format!("config file {} line {line}: {k}: {msg}", path.display()),
            None => format!("config file {} line {line}: {msg}", path.display()),
        }
    })?;
    let given = |id: &str| cli.was_given(id);
    let interval = file.interval.filter(|_| !given("interval"));
    let timeout = file.timeout.filter(|_| !given("timeout"));
    let tables = file.tables.filter(|_| !given("tables"));
    let theme = file.theme.filter(|_| !given("theme"));
    let color = file.color.filter(|_| !given("color"));
    let ascii = file.ascii.filter(|_| !given("ascii"));
    let export_dir = file.export_dir.filter(|_| !given("export_dir"));
    let export_format = file.export_format.filter(|_| !given("format"));
    let docker_host = file.docker_host.filter(|_| !given("docker_host"));
    if let Some(v) = interval {
        cli.interval = v;
    }
    if let Some(v) = timeout {
        cli.timeout = v;
    }
    if let Some(v) = tables {
        cli.tables = v;
    }
    if let Some(v) = theme {
        cli.theme = v;
    }
    if let Some(v) = color {
        cli.color = v;
    }
    if let Some(v) = ascii {
        cli.ascii = v;
    }
    if let Some(v) = file.columns {
        cli.columns = Some(v);
    }
    if let Some(v) = export_dir {
        cli.export_dir = Some(PathBuf::from(v));
    }
    if let Some(v) = export_format {
        cli.export_format = Some(v);
    }
    if let Some(v) = docker_host {
        cli.docker_host = Some(v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn with(args: &[&str], text: &str) -> Result<Cli, String> {
        let mut all = vec!["iptop"];
        all.extend_from_slice(args);
        let mut cli = Cli::parse_args(&all).expect("cli");
        apply(&mut cli, Path::new("c.toml"), text)?;
        Ok(cli)
    }

    #[test]
    fn keys_fill_defaults_and_flags_win() {
        let text = "interval = \"3s\"\ntables = [\"nat\", \"filter\"]\ntheme = \"colorblind\"\n\
                    color = \"never\"\nascii = true\ncolumns = [\"dpkts\", \"rate\", \"match\"]\n\
                    export_dir = \"/var/tmp\"\nexport_format = \"json\"\ndocker_host = \"unix:///x.sock\"\n";
        let c = with(&[], text).expect("ok");
        assert_eq!(c.interval, std::time::Duration::from_secs(3));
        assert_eq!(c.tables, ["nat", "filter"]);
        assert_eq!(c.theme, ThemeName::Colorblind);
        assert_eq!(c.color, ColorWhen::Never);
        assert!(c.ascii);
        assert_eq!(c.export_format, Some(Format::Json));
        assert_eq!(c.export_dir.as_deref(), Some(Path::new("/var/tmp")));
        assert_eq!(c.docker_host.as_deref(), Some("unix:///x.sock"));
        let shown = ColumnSet::from_mask(c.columns);
        assert!(!shown.contains(crate::cells::Column::Pkts));
        assert!(shown.contains(crate::cells::Column::Tree), "the tree stays");
        let c = with(
            &[
                "-i", "1s", "-t", "raw", "--color", "always", "--format", "svg",
            ],
            text,
        )
        .expect("ok");
        assert_eq!(c.interval, std::time::Duration::from_secs(1));
        assert_eq!(c.tables, ["raw"]);
        assert_eq!(c.color, ColorWhen::Always);
        assert_eq!(c.export_format, None);
        assert_eq!(c.format, Format::Svg);
        // the defaults are untouched without a file
        let plain = Cli::parse_from(["iptop"]);
        assert_eq!(plain.interval, std::time::Duration::from_secs(1));
    }

    #[test]
    fn a_bad_file_is_one_line_naming_the_key() {
        for (text, key) in [
            ("interval = \"soon\"", "interval"),
            ("interval = 3", "interval"),
            ("tables = [\"fil tre\"]", "tables"),
            ("theme = \"pink\"", "theme"),
            ("columns = [\"nope\"]", "columns"),
            ("ascii = \"yes\"", "ascii"),
            ("intervall = \"3s\"", "intervall"),
        ] {
            let e = with(&[], text).unwrap_err();
            assert!(!e.contains('\n'), "{e}");
            assert!(e.contains(&format!(": {key}: ")), "{text}: {e}");
        }
        let e = with(&[], "interval = \n").unwrap_err();
        assert!(!e.contains('\n') && e.contains("line 1"), "{e}");
    }

    #[test]
    fn other_users_or_writable_files_are_not_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("config.toml");
        // the temporary directory is the test user's: the owner it may have
        let me = nix::unistd::geteuid().as_raw();
        assert_eq!(read(&p, Some(&[me])), Ok(None), "missing is silent");
        std::fs::write(&p, "interval = \"2s\"\n").expect("write");
        assert!(read(&p, Some(&[me])).expect("own").is_some());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let e = read(&p, Some(&[me])).unwrap_err();
        assert!(e.contains("writable"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        if me == 0 {
            nix::unistd::chown(&p, Some(nix::unistd::Uid::from_raw(12345)), None).expect("chown");
            let e = read(&p, Some(&[4242])).unwrap_err();
            assert!(e.contains("owned by uid 12345"), "{e}");
        }
        assert!(read(dir.path(), None).is_err(), "a directory");
    }
}
