fn main() {
    println!("fake-metadata {}", env!("CARGO_PKG_VERSION"));
}
