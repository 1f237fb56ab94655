//! The `mailpulse` binary: everything lives in the library; see `cli`.

fn main() {
    std::process::exit(mailpulse::cli::main());
}
