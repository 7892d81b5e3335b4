//! `acr-refresher`: the command line of the reference refresher.

fn main() {
    println!("acr-refresher {}", env!("CARGO_PKG_VERSION"));
}
