fn main() {
    println!("fake-acr {}", env!("CARGO_PKG_VERSION"));
}
