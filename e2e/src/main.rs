fn main() {
    println!("acr-conformance {}", env!("CARGO_PKG_VERSION"));
}
