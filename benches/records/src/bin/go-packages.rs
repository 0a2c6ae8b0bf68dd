//! Prints the Debian packages of Go source the Go peers build from, one a
//! line (`records::registry::GoPackage`): what `.ci/run` installs, so the
//! list is written once. `--with-toolchain` adds the Go toolchain's package.
//!
//! ```text
//! apt-get install $(cargo run -q -p records --bin go-packages -- --with-toolchain)
//! ```

use records::registry::{GO_TOOLCHAIN, GoPackage};

fn main() {
    let toolchain = std::env::args()
        .skip(1)
        .any(|arg| arg == "--with-toolchain");
    if toolchain {
        println!("{GO_TOOLCHAIN}");
    }
    for package in GoPackage::ALL {
        println!("{package}");
    }
}
