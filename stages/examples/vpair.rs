use panelscope_models::Dihedral;
use panelscope_stages::verify::{VerifyConfig, verify};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let a = image::open(&args[1]).unwrap().to_luma8();
    let b = image::open(&args[2]).unwrap().to_luma8();
    let r = verify(&a, &b, Dihedral::Identity, &VerifyConfig::default());
    println!("{r:?}");
}
