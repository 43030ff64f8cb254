//! What an installation needs besides the binary, generated from the command line's own
//! definition (`crate::cli::Cli`, clap) so it never drifts from `--help`: shell completions
//! (`hookhost completions bash|zsh|fish|elvish|powershell`, clap_complete) and the man page
//! (`hookhost man`, roff via clap_mangen).

use clap::CommandFactory;

/// Writes the completion script for `shell` to `out` (generated in memory first: the
/// generator panics on a write error, a closed pipe is reported here instead).
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut cmd = crate::cli::Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "hookhost", &mut buf);
    out.write_all(&buf)
}

/// Writes the man page `hookhost(1)` (roff) to `out`.
pub fn man(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    clap_mangen::Man::new(crate::cli::Cli::command()).render(out)
}
