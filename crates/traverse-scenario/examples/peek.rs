fn main() {
    for path in std::env::args().skip(1) {
        match traverse_scenario::load(std::path::Path::new(&path)) {
            Ok(s) => println!("ok {s:?}"),
            Err(e) => println!("{e}"),
        }
    }
}
