//! `iptop --man`: the man page, in section 8 with the other firewall tools, made from
//! the same option definitions as `--help`, with sections on the live view's keys (from
//! the key table the help overlay reads), files, environment and exit status.

use clap::CommandFactory;

use crate::cli::Cli;

/// Sections after the options (roff).
const MORE: &str = r#".SH FILES
.TP
\fI$XDG_CONFIG_HOME/iptop/config.toml\fR (default \fI~/.config/iptop/config.toml\fR)
Defaults for options; flags override them. Under sudo, the invoking user's file
(\fBSUDO_USER\fR) is read too, and its keys win; it is read only when owned by that user
or root and not writable by group or others. Keys: interval, tables, theme, color,
ascii, columns, export_dir, export_format, docker_host, timeout.
.SH ENVIRONMENT
.TP
\fBNO_COLOR\fR
Set and not empty: no colours with \fB\-\-color auto\fR.
.TP
\fBTERM\fR
\fBdumb\fR: no colours with \fB\-\-color auto\fR.
.TP
\fBDOCKER_HOST\fR
The Docker Engine to ask for network and container names.
.SH EXIT STATUS
0 on success, 1 when iptables, a file or the terminal failed, 2 for wrong options
or a bad config file.
.SH SEE ALSO
\fBiptables\fR(8), \fBiptables\-save\fR(8), \fBip\-netns\fR(8)
"#;

/// The roff text: it starts with the `.TH` line (string definitions follow it).
pub fn render() -> std::io::Result<String> {
    let man = clap_mangen::Man::new(Cli::command())
        .section("8")
        .manual("System Manager's Manual");
    let mut out = Vec::new();
    man.render(&mut out)?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let mut lines: Vec<&str> = text.lines().collect();
    if let Some(i) = lines.iter().position(|l| l.starts_with(".TH ")) {
        let th = lines.remove(i);
        lines.insert(0, th);
    }
    let mut page = lines.join("\n");
    page.push('\n');
    // before VERSION, which clap_mangen writes last
    let more = format!("{}{MORE}", keys());
    match page.find(".SH VERSION") {
        Some(i) => page.insert_str(i, &more),
        None => page.push_str(&more),
    }
    Ok(page)
}

/// The KEYS section: the help overlay's lines, from the one key table.
fn keys() -> String {
    let mut out = String::from(".SH KEYS\nIn the live view (\\fB?\\fR shows them too):\n");
    for (keys, what) in crate::ui::keymap::help_lines() {
        out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", roff(keys), roff(what)));
    }
    out
}

/// Text as roff shows it: backslashes and minus signs escaped, no line starting with a
/// control character.
fn roff(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn section_8_and_th_first() {
        let page = super::render().expect("render");
        assert!(page.starts_with(".TH iptop 8 "), "{}", &page[..80]);
        assert!(page.contains(".SH FILES") && page.contains("config.toml"));
        assert!(page.contains("\\-\\-listen"));
    }

    #[test]
    fn keys_from_the_key_table() {
        let page = super::render().expect("render");
        let keys =
            &page[page.find(".SH KEYS").expect("KEYS")..page.find(".SH FILES").expect("FILES")];
        for (k, _) in crate::ui::keymap::help_lines() {
            assert!(keys.contains(&super::roff(k)), "{k} missing");
        }
        assert!(keys.matches(".TP").count() >= 20, "{keys}");
    }
}
