//! Re-runs the embed when the UI build output changes, so `cargo build`
//! after `npm run build` picks up the new assets.
fn main() {
    println!("cargo::rerun-if-changed=../../ui/dist");
}
