//! `cargo ebpf-cross`: the CLI edge. Errors become a friendly report and a
//! non-zero exit here, and nowhere else.

fn main() {
    // A reader that stops early (`| head`, `| grep -q`) should end us the
    // way it ends any Unix filter, not with a panic from println!. Rust
    // ignores SIGPIPE by default; restore the default action.
    // SAFETY: called first thing, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Cargo runs us as `cargo-ebpf-cross ebpf-cross <cmd> ...`.
    if args.get(1).is_some_and(|a| a == "ebpf-cross") {
        args.remove(1);
    }
    let cli = cargo_ebpf_cross::cli::parse_from(args);
    // Before any child or temp file exists, so none escapes a Ctrl-C.
    cargo_ebpf_cross::interrupt::install();
    let code = match cargo_ebpf_cross::command::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            cargo_ebpf_cross::ui::error(&e.to_string(), &e.hint());
            1
        }
    };
    std::process::exit(code);
}
